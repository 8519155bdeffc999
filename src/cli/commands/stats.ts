import { callApi, daemonApi } from '../../daemon/api.js'
import { readLedger } from '../../policy/fairness/ledger.js'
import { readPolicy } from '../../policy/fairness/policy-file.js'
import { resolveRepo } from '../../store/index.js'
import type { PeerFairness } from '../../sync/exchange/block-service.js'
import type { CommandContext } from '../context.js'
import type { Command } from '../command.js'

/** A row of `cmesh stats`: from the running daemon, or the ledger file alone (then no live state). */
type StatsRow = Partial<PeerFairness> & Pick<PeerFairness, 'peer' | 'sent' | 'received' | 'ratio'>

export const stats: Command = {
  name: 'stats',
  summary: 'per-peer ledger: bytes sent and received, ratio, choke state, share (the running daemon\'s, else the repo\'s ledger)',
  usage: 'stats [--json]',
  options: {},
  async run (ctx) {
    const repo = resolveRepo(ctx.options.repo)
    readPolicy(repo) // a broken policy.json is reported, even when the daemon runs on the one it read before
    const api = await daemonApi(repo)
    const rows: StatsRow[] = api !== undefined
      ? await callApi(api, 'GET', '/api/v0/stats') as PeerFairness[]
      : readLedger(repo).map(r => ({ peer: r.peer, sent: r.sent, received: r.received, ratio: r.ratio }))
    for (const r of rows) print(ctx, r, api !== undefined)
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
