import { parseCidPath } from '../args.js'
import type { Command } from '../command.js'

export const pin: Command = {
  name: 'pin',
  summary: 'keep a complete DAG safe from gc (or list pins with no argument)',
  usage: 'pin [<cid>] [--json]',
  options: {},
  async run (ctx, _values, [arg]) {
    const store = ctx.openStore()
    if (arg === undefined) {
      for (const cid of store.pins()) ctx.print(ctx.options.json ? JSON.stringify({ cid: cid.toString() }) : cid.toString())
      return
    }
    const { cid } = parseCidPath(arg, 'pin')
    await store.pin(cid)
    if (ctx.options.json) ctx.printJson({ cid: cid.toString(), pinned: true })
  }
}

export const unpin: Command = {
  name: 'unpin',
  summary: 'let gc remove a DAG (blocks shared with other pins stay)',
  usage: 'unpin <cid> [--json]',
  options: {},
  async run (ctx, _values, [arg]) {
    const { cid } = parseCidPath(arg, 'unpin')
    const store = ctx.openStore()
    const was = await store.unpin(cid)
    if (ctx.options.json) ctx.printJson({ cid: cid.toString(), wasPinned: was })
    else if (!was) ctx.print(`${cid.toString()} was not pinned`)
  }
}
