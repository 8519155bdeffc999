import { once } from 'node:events'
import { cat as catFile, resolvePath } from '../../dag/exporter.js'
import { parseCidPath, parseCount } from '../args.js'
import type { Command } from '../command.js'

export const cat: Command = {
  name: 'cat',
  summary: 'print a file (or a byte range of it) to stdout, verifying every block',
  usage: 'cat <cid>[/path] [--offset N] [--length N]',
  options: { offset: { type: 'string' }, length: { type: 'string' } },
  async run (ctx, values, [arg]) {
    const offset = parseCount(values.offset as string | undefined, '--offset')
    const length = parseCount(values.length as string | undefined, '--length')
    const { cid, path } = parseCidPath(arg, 'cat')
    const store = ctx.openStore()
    const target = path === '' ? cid : (await resolvePath(store, cid, path)).cid
    for await (const bytes of catFile(store, target, { offset, length })) {
      if (!ctx.stdout.write(bytes)) await once(ctx.stdout, 'drain')
    }
  }
}
