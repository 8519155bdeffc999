import { callApi, daemonApi } from '../../daemon/api.js'
import { createNode } from '../../node/index.js'
import { resolveRepo } from '../../store/index.js'
import { readBundle, type UpdateResult } from '../../sync/releases/releases.js'
import { formatBytes, UsageError } from '../args.js'
import type { Command } from '../command.js'

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
  options: { manifest: { type: 'string' }, 'with-deps': { type: 'boolean' }, bootstrap: { type: 'string', multiple: true }, 'no-mdns': { type: 'boolean' }, listen: { type: 'string', multiple: true } },
  async run (ctx, values, [name]) {
    if (name === undefined) throw new UsageError('update: missing <name>')
    const bundle = typeof values.manifest === 'string' ? await readBundle(values.manifest) : undefined
    const withDeps = values['with-deps'] === true
    const api = await daemonApi(resolveRepo(ctx.options.repo))
    let r: UpdateResult
    if (api !== undefined) {
      r = await callApi(api, 'POST', `/api/v0/update?name=${encodeURIComponent(name)}${withDeps ? '&withDeps=1' : ''}`, bundle) as UpdateResult
    } else {
      const node = await createNode({
        repo: ctx.options.repo,
        listen: (values.listen as string[] | undefined) ?? ['/ip4/0.0.0.0/tcp/0'],
        bootstrap: values.bootstrap as string[] | undefined,
        mdns: values['no-mdns'] !== true
      })
      try {
        const bar = ctx.progress('update')
        let total = 0
        r = await node.update(name, {
          bundle,
          withDeps,
          onProgress: e => {
            if (e.type === 'update:release') total = e.size
            if (e.type === 'fetch:blocks') bar.update(e.bytes, Math.max(total, e.bytes), 'bytes')
          }
        })
        bar.done()
      } finally {
        await node.stop()
      }
    }
    if (ctx.options.json) ctx.printJson(r)
    else ctx.print(report(r))
  }
}
