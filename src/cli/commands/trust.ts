import { TrustStore } from '../../policy/trust/trust.js'
import { resolveRepo } from '../../store/index.js'
import { UsageError } from '../args.js'
import type { Command } from '../command.js'

export const trust: Command = {
  name: 'trust',
  summary: 'trust a publisher key for a release name (add), list trusted keys (ls), or stop trusting (rm)',
  usage: 'trust add <name> <key> | trust ls | trust rm <name> [key]',
  options: {},
  async run (ctx, _values, [action, name, key]) {
    const store = new TrustStore(resolveRepo(ctx.options.repo))
    if (action === 'add') {
      if (name === undefined || key === undefined) throw new UsageError('trust add: needs <name> <key>')
      const text = store.add(name, key)
      if (ctx.options.json) ctx.printJson({ name, key: text })
      else ctx.print(`trusting ${text} for ${name}`)
    } else if (action === 'rm') {
      if (name === undefined) throw new UsageError('trust rm: needs <name> [key]')
      const removed = store.remove(name, key)
      if (ctx.options.json) ctx.printJson({ name, removed })
      else ctx.print(`removed ${removed} key(s) for ${name}`)
    } else if (action === 'ls' || action === undefined) {
      const all = store.list()
      if (ctx.options.json) ctx.printJson(all)
      else for (const e of all) for (const k of e.keys) ctx.print(`${e.name}\t${k}`)
    } else {
      throw new UsageError(`trust: unknown action ${action} (add, ls, rm)`)
    }
  }
}
