import { formatBytes } from '../args.js'
import type { Command } from '../command.js'

export const gc: Command = {
  name: 'gc',
  summary: 'remove blocks no pinned DAG references',
  usage: 'gc [--json]',
  options: {},
  async run (ctx) {
    const result = await ctx.openStore().gc()
    if (ctx.options.json) ctx.printJson(result)
    else ctx.print(`removed ${result.removedBlocks} blocks (${formatBytes(result.removedBytes)})`)
  }
}
