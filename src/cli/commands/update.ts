import { readBundle, type UpdateResult } from '../../sync/releases/releases.js'
import { formatBytes, UsageError } from '../args.js'
import type { Command } from '../command.js'
import { networkOptions } from '../context.js'

function report (r: UpdateResult): string {
  if (r.upToDate) return `${r.name} ${r.version} (seq ${r.seq}) is up to date`
  const pct = r.size === 0 ? 0 : 100 * r.wireBytes / r.size
  return `${r.name} ${r.version} (seq ${r.seq}) installed: root ${r.root}; ${formatBytes(r.wireBytes)} on the wire for ${formatBytes(r.size)} (${pct.toFixed(1)} %) from ${Object.keys(r.sources).length} source(s) in ${r.seconds.toFixed(2)} s` +
    (r.deps.length > 0 ? `; ${r.deps.length} dependenc${r.deps.length === 1 ? 'y' : 'ies'}` : '')
}

export const update: Command = {
  name: 'update',
  summary: 'install the newest trusted release of a name from peers (or a bundle file/URL), fetching only what changed',
  usage: 'update <name> [--manifest FILE|URL] [--with-deps] [--bootstrap MULTIADDR]... [--no-mdns] [--json]',
  options: {
    manifest: { type: 'string' },
    'with-deps': { type: 'boolean' },
    bootstrap: { type: 'string', multiple: true },
    'no-mdns': { type: 'boolean' },
    listen: { type: 'string', multiple: true }
  },
  async run (ctx, values, [name]) {
    if (name === undefined) throw new UsageError('update: missing <name>')
    const bundle = typeof values.manifest === 'string' ? await readBundle(values.manifest) : undefined
    const client = await ctx.nodeClient(networkOptions(values, ['/ip4/0.0.0.0/tcp/0']))
    const bar = ctx.progress('update')
    let r
    try {
      r = await client.update(name, { bundle, withDeps: values['with-deps'] === true, onProgress: p => bar.update(p.done, p.total, 'bytes') })
    } finally {
      bar.done() // an error's line starts on a clean line
    }
    if (ctx.options.json) ctx.printJson(r)
    else ctx.print(report(r))
  }
}
