import { importPath } from '../../dag/importer.js'
import type { HashName } from '../../dag/hashing.js'
import { parseSize, UsageError } from '../args.js'
import type { Command } from '../command.js'

export const add: Command = {
  name: 'add',
  summary: 'import a file or directory (a .tgz member by member, rebuilt byte for byte; --raw: as it is); prints its root CID',
  usage: 'add <path> [--format cmesh|unixfs] [--hash blake3|sha2-256] [--chunker MIN/AVG/MAX] [--raw] [--no-pin] [--json]',
  options: { format: { type: 'string' }, hash: { type: 'string' }, chunker: { type: 'string' }, raw: { type: 'boolean' }, 'no-pin': { type: 'boolean' } },
  async run (ctx, values, [path]) {
    if (path === undefined) throw new UsageError('add: missing <path>')
    const hash = (values.hash as string | undefined) ?? 'blake3'
    if (hash !== 'blake3' && hash !== 'sha2-256') throw new UsageError(`add: --hash must be blake3 or sha2-256, got ${JSON.stringify(hash)}`)
    const format = (values.format as string | undefined) ?? 'cmesh'
    if (format !== 'cmesh' && format !== 'unixfs') throw new UsageError(`add: --format must be cmesh or unixfs, got ${JSON.stringify(format)}`)
    let chunker
    if (typeof values.chunker === 'string') {
      const parts = values.chunker.split('/')
      if (parts.length !== 3) throw new UsageError('add: --chunker takes MIN/AVG/MAX, e.g. 4KiB/16KiB/64KiB')
      const [minSize, avgSize, maxSize] = parts.map(p => parseSize(p, '--chunker'))
      chunker = { minSize, avgSize, maxSize }
    }
    const store = ctx.openStore()
    const bar = ctx.progress('add')
    const result = await importPath(store, path, {
      hash: hash as HashName,
      format,
      chunker,
      pin: values['no-pin'] !== true,
      raw: values.raw === true,
      onProgress: e => { if (e.type === 'import:bytes') bar.update(e.bytes, e.totalBytes) }
    })
    bar.done()
    if (ctx.options.json) {
      const { cid, size, blocks, newBlocks, newBytes, archive } = result
      ctx.printJson({ cid: cid.toString(), size, blocks, newBlocks, newBytes, archive: archive ?? null })
    } else {
      ctx.print(result.cid.toString())
    }
  }
}
