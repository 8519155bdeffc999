import { formatBytes } from '../args.js'
import type { Command } from '../command.js'

export const stat: Command = {
  name: 'stat',
  summary: 'show the store: blocks, bytes, capacity, roots',
  usage: 'stat [--json]',
  options: {},
  async run (ctx) {
    const s = ctx.openStore().stat()
    if (ctx.options.json) {
      ctx.printJson({ ...s, capacity: Number.isFinite(s.capacity) ? s.capacity : null })
      return
    }
    ctx.print(`repo            ${s.repo}`)
    ctx.print(`blocks          ${s.blocks}`)
    ctx.print(`bytes           ${formatBytes(s.bytes)} (${s.bytes})`)
    ctx.print(`capacity        ${formatBytes(s.capacity)}`)
    ctx.print(`pinned roots    ${s.pinnedRoots}`)
    ctx.print(`complete roots  ${s.completeRoots}`)
  }
}
