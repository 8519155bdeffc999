import { importCar } from '../../dag/car.js'
import { UsageError } from '../args.js'
import type { Command } from '../command.js'

export const importCommand: Command = {
  name: 'import',
  summary: 'import a CAR file; every block is verified before anything is stored',
  usage: 'import <file.car> [--no-pin] [--json]',
  options: { 'no-pin': { type: 'boolean' } },
  async run (ctx, values, [file]) {
    if (file === undefined) throw new UsageError('import: missing <file.car>')
    const store = ctx.openStore()
    const result = await importCar(store, file, { pin: values['no-pin'] !== true })
    if (ctx.options.json) {
      ctx.printJson({
        roots: result.roots.map(String),
        complete: result.complete.map(String),
        blocks: result.blocks,
        newBlocks: result.newBlocks,
        newBytes: result.newBytes
      })
    } else {
      for (const root of result.roots) ctx.print(`${root.toString()}${result.complete.some(c => c.equals(root)) ? '' : ' (incomplete: not all blocks are in the CAR or the store)'}`)
    }
  }
}
