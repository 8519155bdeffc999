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
      for (const cid of store.pins()) {
        const owners = store.pinOwners(cid)
        ctx.print(ctx.options.json ? JSON.stringify({ cid: cid.toString(), owners }) : `${cid.toString()}  ${owners.join(',')}`)
      }
      return
    }
    const { cid } = parseCidPath(arg, 'pin')
    await store.pin(cid)
    if (ctx.options.json) ctx.printJson({ cid: cid.toString(), pinned: true })
    else ctx.print(`pinned ${cid.toString()}`)
  }
}

export const unpin: Command = {
  name: 'unpin',
  summary: 'drop your pin of a DAG so gc may remove it (blocks shared with other pins, and pins of the cache, a collection or a release, stay)',
  usage: 'unpin <cid> [--json]',
  options: {},
  async run (ctx, _values, [arg]) {
    const { cid } = parseCidPath(arg, 'unpin')
    const store = ctx.openStore()
    const was = await store.unpin(cid)
    const others = store.pinOwners(cid)
    if (ctx.options.json) ctx.printJson({ cid: cid.toString(), wasPinned: was, pinnedBy: others })
    else if (!was) ctx.print(`${cid.toString()} was not pinned by you${others.length > 0 ? ` (pinned by ${others.join(', ')})` : ''}`)
    else if (others.length > 0) ctx.print(`unpinned ${cid.toString()}; it stays pinned by ${others.join(', ')}`)
    else ctx.print(`unpinned ${cid.toString()}; \`cmesh gc\` may now remove its blocks`)
  }
}
