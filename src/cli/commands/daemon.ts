import { createNode } from '../../node.js'
import type { Command } from '../command.js'

export const daemon: Command = {
  name: 'daemon',
  summary: 'run a node: serve blocks to peers, find neighbours by mDNS; prints its peer id and addresses',
  usage: 'daemon [--listen MULTIADDR]... [--bootstrap MULTIADDR]... [--no-mdns] [--json]',
  options: { listen: { type: 'string', multiple: true }, bootstrap: { type: 'string', multiple: true }, 'no-mdns': { type: 'boolean' } },
  async run (ctx, values) {
    const node = await createNode({
      repo: ctx.options.repo,
      listen: values.listen as string[] | undefined,
      bootstrap: values.bootstrap as string[] | undefined,
      mdns: values['no-mdns'] !== true
    })
    if (ctx.options.json) {
      ctx.printJson({ peerId: node.peerId.toString(), addrs: node.addrs() })
    } else {
      ctx.print(`peer id ${node.peerId.toString()}`)
      for (const a of node.addrs()) ctx.print(`listening on ${a}`)
    }
    await new Promise<void>(resolve => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await node.stop()
  }
}
