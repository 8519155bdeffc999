import { exportCar } from '../../dag/car.js'
import { parseCidPath, UsageError } from '../args.js'
import type { Command } from '../command.js'

export const exportCommand: Command = {
  name: 'export',
  summary: 'write the DAG under a CID to a CAR file',
  usage: 'export <cid> --car <file>',
  options: { car: { type: 'string' } },
  async run (ctx, values, [arg]) {
    const { cid, path } = parseCidPath(arg, 'export')
    if (path !== '') throw new UsageError('export: takes a root CID, not a path inside it')
    if (typeof values.car !== 'string') throw new UsageError('export: missing --car <file>')
    const store = ctx.openStore()
    const total = store.stat().blocks
    const bar = ctx.progress('export')
    const result = await exportCar(store, cid, values.car, { onProgress: e => bar.update(e.blocks, total, 'items') })
    bar.done()
    if (ctx.options.json) ctx.printJson({ cid: cid.toString(), car: values.car, blocks: result.blocks, bytes: result.bytes })
  }
}
