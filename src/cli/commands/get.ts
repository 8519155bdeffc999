import { exportTo, resolvePath } from '../../dag/exporter.js'
import { ExportConflictError } from '../../errors.js'
import { parseCidPath, UsageError } from '../args.js'
import type { Command } from '../command.js'

export const get: Command = {
  name: 'get',
  summary: 'write a file or directory out of the store, verifying every block',
  usage: 'get <cid>[/path] -o <path> [--force]',
  options: { output: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
  async run (ctx, values, [arg]) {
    const { cid, path } = parseCidPath(arg, 'get')
    if (typeof values.output !== 'string') throw new UsageError('get: missing -o <path>')
    const store = ctx.openStore()
    const target = path === '' ? cid : (await resolvePath(store, cid, path)).cid
    const bar = ctx.progress('get')
    const info = await exportTo(store, target, values.output, {
      overwrite: values.force === true,
      onProgress: e => { if (e.type === 'export:bytes') bar.update(e.bytes, e.totalBytes) }
    }).catch(err => {
      if (err instanceof ExportConflictError && err.overwritable) throw new ExportConflictError(err.path, 'it already exists (--force overwrites it)', true)
      throw err
    })
    bar.done()
    if (ctx.options.json) ctx.printJson({ cid: target.toString(), kind: info.kind, size: info.size, path: values.output })
  }
}
