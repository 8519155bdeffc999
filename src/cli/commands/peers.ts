import { setTimeout as sleep } from 'node:timers/promises'
import { callApi, daemonApi } from '../../daemon/api.js'
import { createNode, type PeerInfo } from '../../node/index.js'
import { resolveRepo } from '../../store/index.js'
import type { CommandContext } from '../context.js'
import { parseCount } from '../args.js'
import type { Command } from '../command.js'

export const peers: Command = {
  name: 'peers',
  summary: 'the running daemon\'s peers (else a node of its own, after --wait seconds), ranked: same segment first, then RTT',
  usage: 'peers [--wait SECONDS] [--bootstrap MULTIADDR]... [--listen MULTIADDR]... [--no-mdns] [--json]',
  options: { wait: { type: 'string' }, bootstrap: { type: 'string', multiple: true }, listen: { type: 'string', multiple: true }, 'no-mdns': { type: 'boolean' } },
  async run (ctx, values) {
    const wait = parseCount(values.wait as string | undefined, '--wait') ?? 3
    const api = await daemonApi(resolveRepo(ctx.options.repo))
    if (api !== undefined) {
      for (const p of await callApi(api, 'GET', '/api/v0/peers') as PeerInfo[]) print(ctx, p, undefined)
      return
    }
    const node = await createNode({
      repo: ctx.options.repo,
      listen: values.listen as string[] | undefined,
      bootstrap: values.bootstrap as string[] | undefined,
      mdns: values['no-mdns'] !== true
    })
    try {
      await sleep(wait * 1000)
      for (const p of await node.peers()) print(ctx, p, p.firstConnected === undefined ? undefined : p.firstConnected - node.started)
    } finally {
      await node.stop()
    }
  }
}

function print (ctx: CommandContext, p: PeerInfo, discoveredAfterMs: number | undefined): void {
  if (ctx.options.json) ctx.printJson({ ...p, discoveredAfterMs })
  else ctx.print(`${p.peerId}  ${p.segment === 'same' ? 'same segment ' : 'other segment'}  rtt ${p.rttMs?.toFixed(1) ?? '?'} ms  ${p.addrs.join(' ')}`)
}
