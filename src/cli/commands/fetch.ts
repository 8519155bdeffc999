import { callApi, daemonApi } from '../../daemon/api.js'
import { createNode } from '../../node/index.js'
import { resolveRepo } from '../../store/index.js'
import { parseCidPath, UsageError } from '../args.js'
import type { Command } from '../command.js'

export const fetch: Command = {
  name: 'fetch',
  summary: 'download a DAG from peers (only the blocks this repo lacks), verifying every block',
  usage: 'fetch <cid> [--bootstrap MULTIADDR]... [--no-mdns] [--json]',
  options: { bootstrap: { type: 'string', multiple: true }, 'no-mdns': { type: 'boolean' }, listen: { type: 'string', multiple: true } },
  async run (ctx, values, [arg]) {
    const { cid, path } = parseCidPath(arg, 'fetch')
    if (path !== '') throw new UsageError('fetch: takes a root CID, not a path inside it')
    // a daemon running on this repository does the fetch with its peers; otherwise a node of our own
    const api = await daemonApi(resolveRepo(ctx.options.repo))
    if (api !== undefined) {
      const r = await callApi(api, 'POST', `/api/v0/fetch?cid=${cid.toString()}`) as { bytes: number, seconds: number, sources: Record<string, number> }
      if (ctx.options.json) ctx.printJson(r)
      else ctx.print(`${cid.toString()}: ${r.bytes} bytes from ${Object.keys(r.sources).length} peer(s) in ${r.seconds.toFixed(2)} s (through the daemon)`)
      return
    }
    const node = await createNode({
      repo: ctx.options.repo,
      listen: (values.listen as string[] | undefined) ?? ['/ip4/0.0.0.0/tcp/0'],
      bootstrap: values.bootstrap as string[] | undefined,
      mdns: values['no-mdns'] !== true
    })
    try {
      const bar = ctx.progress('fetch')
      const result = await node.fetch(cid, { onProgress: e => { if (e.type === 'fetch:blocks') bar.update(e.bytes, e.bytes, 'bytes') } })
      bar.done()
      const bytes = Object.values(result.sources).reduce((s, n) => s + n, 0)
      if (ctx.options.json) ctx.printJson({ cid: cid.toString(), bytes, seconds: result.seconds, sources: result.sources })
      else ctx.print(`${cid.toString()}: ${bytes} bytes from ${Object.keys(result.sources).length} peer(s) in ${result.seconds.toFixed(2)} s`)
    } finally {
      await node.stop()
    }
  }
}
