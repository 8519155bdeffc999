import { ReleaseIndex } from '../../store/release-index.js'
import { resolveRepo } from '../../store/index.js'
import type { Command } from '../command.js'

export const releases: Command = {
  name: 'releases',
  summary: 'list the releases installed in this repository',
  usage: 'releases [--json]',
  options: {},
  async run (ctx) {
    const list = new ReleaseIndex(resolveRepo(ctx.options.repo)).list()
    if (ctx.options.json) ctx.printJson(list)
    else for (const r of list) ctx.print(`${r.name}\t${r.version}\tseq ${r.seq}\t${r.root}\t${r.size} bytes`)
  }
}
