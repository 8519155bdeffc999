import type { PeerReport } from '../../daemon/index.js'
import { networkOptions, type CommandContext } from '../context.js'
import { parseCount } from '../args.js'
import type { Command } from '../command.js'

export const peers: Command = {
  name: 'peers',
  summary: 'the running daemon\'s peers (else a node of its own, after --wait seconds), ranked: same segment first, then RTT; each reached direct, hole-punched or relayed',
  usage: 'peers [--wait SECONDS] [--bootstrap MULTIADDR]... [--listen MULTIADDR]... [--no-mdns] [--json]',
  options: {
    wait: { type: 'string' },
    bootstrap: { type: 'string', multiple: true },
    listen: { type: 'string', multiple: true },
    'no-mdns': { type: 'boolean' }
  },
  async run (ctx, values) {
    const wait = parseCount(values.wait as string | undefined, '--wait') ?? 3
    const client = await ctx.nodeClient(networkOptions(values))
    for (const p of await client.peers({ waitMs: wait * 1000 })) print(ctx, p)
  }
}

function print (ctx: CommandContext, p: PeerReport): void {
  if (ctx.options.json) ctx.printJson({ ...p, discoveredAfterMs: p.discoveredAfterMs })
  else ctx.print(`${p.peerId}  ${p.segment === 'same' ? 'same segment ' : 'other segment'}  ${p.reach.padEnd(12)}  rtt ${p.rttMs?.toFixed(1) ?? '?'} ms  ${p.addrs.join(' ')}`)
}
