/**
 * How wide is a report's margin? `npm run bench:analytics -- --noise [--nodes 20] [--gb 10] [--trials 2000] [--json]`
 *
 * A community of --nodes nodes saving --gb GB a day between them (half received from neighbours, half served by
 * caches), each node releasing one day at epsilon 1 with its byte caps set to 300 MB a day. The 95 % margin of
 * "external bandwidth saved" (MB from neighbours + MB saved by caches) is printed for: today's releases (each node
 * adds its own noise), the same releases under secure aggregation (each node adds a share of the noise, the sum
 * carries it once), and, for scale, secure aggregation with the whole epsilon on that one figure. Each margin is
 * given from the noise's variance (1.96 standard deviations, as reports give it) and as seen: the 95th percentile of |reported - true| over --trials runs. One
 * secure aggregation round with real keys, masks and Shamir shares is timed, and its sum checked.
 *
 * Then the release format of secure rounds (secureFigures: SECURE_EPSILON_WEIGHTS give the headline figure half of
 * epsilon, no popularity vector), its margin as the report computes it from one community aggregate, for a day at
 * epsilon 1 and for a week at epsilon 7 (1 a day composed, caps of 300 MB a day), beside today's per-node releases
 * of that week. The week's margins are given as a share of the week's true total (the same share per day).
 */
import { combineReports } from '../src/analytics/aggregate.js'
import { discreteLaplaceShare, minimumContributors } from '../src/analytics/noise-shares.js'
import { epsilonShares, noisyRelease, quantityCap, secureFigures } from '../src/analytics/release.js'
import type { SecureAggregate } from '../src/analytics/secure-wire.js'
import { QUANTITIES } from '../src/analytics/constants.js'
import { SecureAggregationParticipant, unmaskSum, type Contribution } from '../src/analytics/secure-aggregation.js'
import { periodStart } from '../src/analytics/period.js'
import { discreteLaplaceVariance } from '../src/policy/privacy/privacy-noise.js'
import { printTable, type BenchArgs } from './report.js'

const percentile95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(0.95 * xs.length)]!

/** One secure aggregation round of n nodes over `values` (a vector each), all present: its sum and its time. */
function secureRound (values: number[][]): { sum: number[], ms: number } {
  const t0 = performance.now()
  const nodes = values.map(() => new SecureAggregationParticipant()).sort((a, b) => Buffer.compare(a.publicKey, b.publicKey))
  const keys = nodes.map(p => p.publicKey)
  const t = minimumContributors(nodes.length)
  const all = nodes.map((_, i) => i)
  const contributions: Contribution[] = nodes.map((p, i) => p.contribute(keys, 'bench', values[i]!, t))
  const recoveries = nodes.map((p, i) => p.recover(keys, 'bench', all, new Map(contributions.filter(c => c.from !== i).map(c => [c.from, c.shares[i]!])), values[0]!.length, t))
  const sum = unmaskSum(contributions, recoveries, values[0]!.length, t)
  return { sum, ms: performance.now() - t0 }
}

export async function noiseBench (args: BenchArgs): Promise<void> {
  const n = Number(args.nodes ?? 20)
  const trueMB = Number(args.gb ?? 10) * 1000
  const trials = Number(args.trials ?? 2000)
  const start = periodStart('day', Date.UTC(2026, 11, 7))
  const perNode = trueMB / n
  const caps = { peerMB: 2100, savedMB: 2100 } // per week: 300 MB a day
  const counters = { 'bytes.received.peer': perNode / 2 * 1e6, 'external.bytes.saved': perNode / 2 * 1e6, 'uptime.seconds': 86_400 }
  const release = (): ReturnType<typeof noisyRelease> => noisyRelease({ period: 'day', start, counters, requested: new Set(), catalog: [], epsilon: 1, maxResources: 4, caps })
  const capOf = (key: string): number => quantityCap(QUANTITIES.find(q => q.key === key)!, 'day', start, caps[key as keyof typeof caps])
  const scale = capOf('peerMB') / epsilonShares(1).scalar
  const parts = minimumContributors(n)
  const rows: Array<Record<string, unknown>> = []
  const json: Record<string, unknown> = { nodes: n, trueMB, trials, epsilonPerDay: 1, capMBPerDay: capOf('peerMB'), minimumContributors: parts }
  const row = (key: string, scheme: string, analytic: number, seen: number): void => {
    rows.push({ scheme, 'margin MB': analytic.toFixed(0), 'of true': `${(100 * analytic / trueMB).toFixed(1)} %`, 'seen MB': seen.toFixed(0), 'within 10 %': analytic <= trueMB / 10 ? 'yes' : 'no' })
    json[key] = { marginMB: analytic, seenMB: seen, fraction: analytic / trueMB }
  }

  // today: each node's release carries its own noise on each of peerMB and savedMB
  const todayErrors: number[] = []
  let todayMargin = 0
  for (let i = 0; i < trials; i++) {
    const releases = Array.from({ length: n }, release)
    todayMargin = combineReports(releases, { period: 'day' }).periods[0]!.savedMB.margin
    // seen on the raw sum: the report clamps it at 0, which would hide how far the noise goes
    todayErrors.push(Math.abs(releases.reduce((s, r) => s + r.values.peerMB! + r.values.savedMB!, 0) - trueMB))
  }
  row('perNode', `today: each of ${n} nodes adds its own noise (13 figures share epsilon)`, todayMargin, percentile95(todayErrors))

  // secure aggregation, the same release: each node adds a share of the noise for `parts` contributors
  const shareVariance = (s: number): number => discreteLaplaceVariance(s) * n / parts
  const secureErrors: number[] = []
  for (let i = 0; i < trials; i++) {
    let sum = 0
    for (let j = 0; j < n; j++) sum += perNode + discreteLaplaceShare(scale, parts) + discreteLaplaceShare(scale, parts)
    secureErrors.push(Math.abs(sum - trueMB))
  }
  row('secure', `secure aggregation, the same release (noise cut for ${parts} of ${n})`, 1.96 * Math.sqrt(2 * shareVariance(scale)), percentile95(secureErrors))

  // for scale: the whole epsilon on one figure of cap 600 MB a day (what the budget split costs)
  const oneScale = 2 * capOf('peerMB') / 1
  for (const [key, p, label] of [['secureOneFigure', parts, `secure aggregation, all of epsilon on this one figure (cut for ${parts})`], ['centralOneFigure', n, 'one trusted aggregator, all of epsilon on this one figure']] as const) {
    const errors: number[] = []
    for (let i = 0; i < trials; i++) {
      let sum = 0
      for (let j = 0; j < n; j++) sum += perNode + discreteLaplaceShare(oneScale, p)
      errors.push(Math.abs(sum - trueMB))
    }
    row(key, label, 1.96 * Math.sqrt(discreteLaplaceVariance(oneScale) * n / p), percentile95(errors))
  }
  // and a week of it released at once (epsilon 7 = 1 a day composed, caps 7 days' worth): the relative margin
  // shrinks 7 times; a single day's activity is then protected at up to 7, not 1
  const weekErrors: number[] = []
  for (let i = 0; i < trials; i++) {
    let sum = 0
    for (let j = 0; j < n; j++) sum += 7 * perNode + discreteLaplaceShare(7 * oneScale / 7, parts)
    weekErrors.push(Math.abs(sum - 7 * trueMB) / 7)
  }
  row('secureOneFigureWeek', 'the same, a week released at once at epsilon 7 (margin per day of the week\'s total)', 1.96 * Math.sqrt(discreteLaplaceVariance(oneScale) * n / parts) / 7, percentile95(weekErrors))

  // the release format of secure rounds, through combineReports as a report reads it
  const format = (period: 'day' | 'week', epsilon: number): { margin: number, seen: number, days: number } => {
    const at = periodStart(period, Date.UTC(2026, 11, 7))
    const days = period === 'week' ? 7 : 1
    const c = { 'bytes.received.peer': days * perNode / 2 * 1e6, 'external.bytes.saved': days * perNode / 2 * 1e6, 'uptime.seconds': days * 86_400 }
    const figures = secureFigures({ period, start: at, counters: c, epsilon, caps })
    const errors: number[] = []
    let margin = 0
    for (let i = 0; i < trials; i++) {
      // only the headline figures are drawn: the margin of the others does not enter "saved"
      const values = Object.fromEntries(QUANTITIES.map(q => [q.key, n * figures.values[q.key]!]))
      for (const key of ['peerMB', 'savedMB']) for (let j = 0; j < n; j++) values[key]! += discreteLaplaceShare(figures.scales[key]!, parts)
      const aggregate: SecureAggregate = {
        v: 1,
        kind: 'secure-sum',
        id: new Uint8Array(16),
        period,
        start: at,
        epsilon,
        contributors: n,
        cohort: n,
        threshold: parts,
        values,
        scales: figures.scales,
        maxima: Object.fromEntries(QUANTITIES.map(q => [q.key, n * figures.caps[q.key]!]))
      }
      margin = combineReports([], { period, aggregates: [aggregate] }).periods[0]!.savedMB.margin
      errors.push(Math.abs(values.peerMB! + values.savedMB! - days * trueMB))
    }
    return { margin, seen: percentile95(errors), days }
  }
  const frow = (key: string, scheme: string, r: { margin: number, seen: number, days: number }): void => {
    const truth = r.days * trueMB
    rows.push({ scheme, 'margin MB': r.margin.toFixed(0), 'of true': `${(100 * r.margin / truth).toFixed(1)} %`, 'seen MB': r.seen.toFixed(0), 'within 10 %': r.margin <= truth / 10 ? 'yes' : 'no' })
    json[key] = { marginMB: r.margin, seenMB: r.seen, fraction: r.margin / truth, trueMB: truth }
  }
  const weekStart = periodStart('week', Date.UTC(2026, 11, 7))
  const weekCounters = { 'bytes.received.peer': 7 * perNode / 2 * 1e6, 'external.bytes.saved': 7 * perNode / 2 * 1e6, 'uptime.seconds': 7 * 86_400 }
  const weekErrorsToday: number[] = []
  let weekMarginToday = 0
  for (let i = 0; i < trials; i++) {
    const releases = Array.from({ length: n }, () => noisyRelease({ period: 'week', start: weekStart, counters: weekCounters, requested: new Set(), catalog: [], epsilon: 7, maxResources: 4, caps }))
    weekMarginToday = combineReports(releases, { period: 'week' }).periods[0]!.savedMB.margin
    weekErrorsToday.push(Math.abs(releases.reduce((s, r) => s + r.values.peerMB! + r.values.savedMB!, 0) - 7 * trueMB))
  }
  frow('perNodeWeek', `today's per-node releases, a week at epsilon 7 (of the week's ${7 * trueMB} MB)`, { margin: weekMarginToday, seen: percentile95(weekErrorsToday), days: 7 })
  frow('secureFormatDay', 'secure rounds, their format (headline half of epsilon), a day at epsilon 1', format('day', 1))
  frow('secureFormatWeek', 'secure rounds, their format, a week at epsilon 7 (1 a day)', format('week', 7))

  // one real round: keys, masks, Shamir shares, recovery; the sum must be the clamped values plus the shares
  const vectors = Array.from({ length: n }, () => {
    const r = release()
    return QUANTITIES.map(q => r.values[q.key]!)
  })
  const round = secureRound(vectors)
  const exact = QUANTITIES.every((_, k) => round.sum[k] === vectors.reduce((s, v) => s + v[k]!, 0))
  json.roundMs = round.ms
  json.roundExact = exact
  rows.push({ scheme: `one secure aggregation round of ${n} nodes, 13 values: ${round.ms.toFixed(0)} ms, sum ${exact ? 'exact' : 'WRONG'}`, 'margin MB': '', 'of true': '', 'seen MB': '', 'within 10 %': '' })
  printTable(rows, args.json === true, json)
}
