import { setTimeout as sleep } from 'node:timers/promises'
import { createNode } from '../../node.js'
import { parseCount } from '../args.js'
import type { Command } from '../command.js'

export const peers: Command = {
  name: 'peers',
  summary: 'start a node, find peers (mDNS, bootstrap) for a while, and print them ranked: same segment first, then RTT',
  usage: 'peers [--wait SECONDS] [--bootstrap MULTIADDR]... [--listen MULTIADDR]... [--no-mdns] [--json]',
  options: { wait: { type: 'string' }, bootstrap: { type: 'string', multiple: true }, listen: { type: 'string', multiple: true }, 'no-mdns': { type: 'boolean' } },
  async run (ctx, values) {
    const wait = parseCount(values.wait as string | undefined, '--wait') ?? 3
    const node = await createNode({
      repo: ctx.options.repo,
      listen: values.listen as string[] | undefined,
      bootstrap: values.bootstrap as string[] | undefined,
      mdns: values['no-mdns'] !== true
    })
    try {
      await sleep(wait * 1000)
      for (const p of await node.peers()) {
        const discoveredAfterMs = p.firstConnected === undefined ? undefined : p.firstConnected - node.started
        if (ctx.options.json) {
          ctx.printJson({ ...p, discoveredAfterMs })
        } else {
          ctx.print(`${p.peerId}  ${p.segment === 'same' ? 'same segment ' : 'other segment'}  rtt ${p.rttMs?.toFixed(1) ?? '?'} ms  ${p.addrs.join(' ')}`)
        }
      }
    } finally {
      await node.stop()
    }
  }
}
