import type { StatsRow } from '../../daemon/index.js'
import { readPolicy } from '../../policy/fairness/policy-file.js'
import { resolveRepo } from '../../store/index.js'
import type { CommandContext } from '../context.js'
import type { Command } from '../command.js'

export const stats: Command = {
  name: 'stats',
  summary: 'per-peer ledger: bytes sent and received, ratio, choke state, share (the running daemon\'s, else the repo\'s ledger)',
  usage: 'stats [--json]',
  options: {},
  async run (ctx) {
    readPolicy(resolveRepo(ctx.options.repo)) // a broken policy.json is reported, even when the daemon runs on the one it read before
    // the daemon's live state; without one, the ledger file alone (no node is started for it)
    const { live, rows } = await (await ctx.nodeClient()).stats()
    for (const r of rows) print(ctx, r, live)
  }
}

function mb (n: number): string {
  return `${(n / 1e6).toFixed(2)} MB`
}

function print (ctx: CommandContext, r: StatsRow, live: boolean): void {
  if (ctx.options.json) return ctx.printJson({ ...r, live })
  const ratio = r.ratio === null ? '-' : r.ratio.toFixed(2)
  const extra = live ? `  ${r.choke ?? ''}${r.seeding === true ? ' seeding' : ''}${r.throttled === true ? ' throttled' : ''}  weight ${r.weight?.toFixed(2) ?? '?'}  share ${((r.share ?? 0) * 100).toFixed(1)} %  ${r.group ?? ''}` : ''
  ctx.print(`${r.peer}  sent ${mb(r.sent)}  received ${mb(r.received)}  ratio ${ratio}${extra}`)
}
