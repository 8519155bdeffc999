import { ls as list, resolvePath } from '../../dag/exporter.js'
import { parseCidPath } from '../args.js'
import type { Command } from '../command.js'

export const ls: Command = {
  name: 'ls',
  summary: 'list a directory: kind, mode, size, CID and name of each entry',
  usage: 'ls <cid>[/path] [--json]',
  options: {},
  async run (ctx, _values, [arg]) {
    const { cid, path } = parseCidPath(arg, 'ls')
    const store = ctx.openStore()
    const target = path === '' ? cid : (await resolvePath(store, cid, path)).cid
    for await (const e of list(store, target)) {
      if (ctx.options.json) {
        ctx.printJson({ name: e.name, kind: e.kind, size: e.size, mode: e.mode, cid: e.cid?.toString(), target: e.target })
      } else {
        const what = e.kind === 'symlink' ? `-> ${e.target!}` : e.cid!.toString()
        ctx.print(`${e.kind.padEnd(7)} ${e.mode.toString(8).padStart(4, '0')} ${String(e.size).padStart(12)} ${what} ${e.name}`)
      }
    }
  }
}
