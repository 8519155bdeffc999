import { parseCidPath, UsageError } from '../args.js'
import type { Command } from '../command.js'
import { networkOptions } from '../context.js'

export const fetch: Command = {
  name: 'fetch',
  summary: 'download a DAG from peers (only the blocks this repo lacks), verifying every block',
  usage: 'fetch <cid> [--bootstrap MULTIADDR]... [--no-mdns] [--json]',
  options: { bootstrap: { type: 'string', multiple: true }, 'no-mdns': { type: 'boolean' }, listen: { type: 'string', multiple: true } },
  async run (ctx, values, [arg]) {
    const { cid, path } = parseCidPath(arg, 'fetch')
    if (path !== '') throw new UsageError('fetch: takes a root CID, not a path inside it')
    // a daemon running on this repository does the fetch with its peers; otherwise a node of our own, which starts
    // once its first bootstrap peer connects (the others join the download as they connect)
    const client = await ctx.nodeClient({ ...networkOptions(values, ['/ip4/0.0.0.0/tcp/0']), bootstrapWait: 'first' })
    const bar = ctx.progress('fetch')
    let r
    try {
      r = await client.fetch(cid, { onProgress: p => bar.update(p.done, p.total, 'bytes') })
    } finally {
      bar.done()
    }
    if (ctx.options.json) ctx.printJson(r)
    else ctx.print(`${r.cid}: ${r.bytes} bytes from ${Object.keys(r.sources).length} peer(s) in ${r.seconds.toFixed(2)} s${client.via === 'daemon' ? ' (through the daemon)' : ''}`)
  }
}
