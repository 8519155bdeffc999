import { createHash } from 'node:crypto'
import { DEFAULT_POPULARITY_THRESHOLD, DEFAULT_THRESHOLD_NOISE, QUANTITIES, type PeriodName } from './constants.js'
import { discreteLaplace, discreteLaplaceVariance, type Uniform } from '../policy/privacy/privacy-noise.js'
import { periodHours, periodLabel, periodStart } from './period.js'
import { epsilonShares } from './release.js'
import type { AnalyticsReport } from './wire.js'
import type { SecureAggregate } from './secure-wire.js'

/**
 * A noisy community total and its 95 % error margin (1.96 standard deviations of the summed noise). The value is
 * clamped to what the releases make possible (0 up to the sum of the nodes' caps): post-processing, no privacy cost.
 */
export interface Estimate {
  value: number
  margin: number
  /** The margin is larger than the value: the figure cannot be told from nothing, and reads "too noisy". */
  tooNoisy: boolean
}

export interface PopularResource {
  root: string
  title?: string
  /** Noisy count of distinct nodes that requested it. */
  requesters: Estimate
}

export interface CommunityPeriod {
  start: number
  label: string
  hours: number
  /** Aggregates heard for the period (one per node online in it; the most in any release period it holds). */
  nodesOnline: number
  reports: number
  /** Nodes whose figures came in secure sums (noise added once for all of them), of nodesOnline. */
  secureContributors: number
  /** Noisy community totals of every released quantity (QUANTITIES keys). */
  totals: Record<string, Estimate>
  /** Resources whose noisy requester count passed the noisy threshold, most requested first. */
  popular: PopularResource[]
  /**
   * Bytes kept off the external link: received from peers plus saved by caches (MB, each noisy sum counted from
   * zero up), and as a share of all bytes in (the same, plus from outside and from mirrors).
   */
  savedMB: Estimate
  /** null while the bytes in are not above their noise margin (too few nodes to tell). */
  savedShare: number | null
  /** MB moved into the community's nodes per hour (peers, mirrors, origin). */
  throughputMBPerHour: Estimate
  /** Errors per resource fetched; null while the resources fetched are not above their noise margin. */
  errorRate: number | null
  newNodes: Estimate
  /** Mean peers a node sees on its own network segment, at most the other nodes that reported (and the cap). */
  segmentPeers: Estimate
}

export interface CommunityReport {
  generated: string
  period: PeriodName
  /** Reports combined, and the epsilon each node spent per period (the largest seen). */
  reports: number
  epsilon: number
  threshold: number
  periods: CommunityPeriod[]
}

export interface CombineOptions {
  /** Group releases by this period. @default 'week' */
  period?: PeriodName
  /** k: a resource is named only when its noisy requester count passes k plus noise. @default 5 */
  threshold?: number
  /** Scale of the noise added to k. @default 2 */
  thresholdNoise?: number
  /** Community aggregates of secure rounds, combined with the per-node releases (each node is in one or the other). */
  aggregates?: SecureAggregate[]
  /** Titles of known resources, by root. */
  titles?: Map<string, string>
  /** Most popular resources listed per period. @default 10 */
  top?: number
  now?: () => number
}

/** An estimate from a noisy sum, clamped to [0, max] and marked too noisy when its margin passes it. */
export function estimate (value: number, variance: number, max = Infinity): Estimate {
  const margin = 1.96 * Math.sqrt(variance)
  const clamped = Math.min(Math.max(0, value), Math.max(0, max))
  return { value: clamped, margin, tooNoisy: margin > clamped }
}

/** The cap (sensitivity) a release used for `key`: its noise scale times the epsilon each scalar got. */
function releasedCap (r: AnalyticsReport, key: string): number {
  return Math.round(r.scales[key]! * epsilonShares(r.epsilon).scalar)
}

/**
 * Deterministic noise for the threshold of one resource in one period, seeded by the reports combined: the same
 * reports give the same report (regenerating it does not redraw the threshold), other reports another draw.
 */
function seeded (seed: string): Uniform {
  let counter = 0
  return () => {
    const h = createHash('sha256').update(seed).update(String(counter++)).digest()
    return (h.readUIntBE(0, 6) + 1) / 2 ** 48
  }
}

/**
 * Combine aggregates from any number of nodes (post-processing: it costs no privacy). Totals are sums of noisy
 * values, with error margins from the noise scales the reports carry; popularity sums each resource's noisy
 * bits and names the resource only when the sum passes a noisy threshold k.
 */
export function combineReports (reports: AnalyticsReport[], options: CombineOptions = {}): CommunityReport {
  const period = options.period ?? 'week'
  const threshold = options.threshold ?? DEFAULT_POPULARITY_THRESHOLD
  const thresholdNoise = options.thresholdNoise ?? DEFAULT_THRESHOLD_NOISE
  const groups = new Map<number, { list: AnalyticsReport[], sums: SecureAggregate[] }>()
  const group = (start: number): { list: AnalyticsReport[], sums: SecureAggregate[] } => {
    const g = periodStart(period, start)
    let entry = groups.get(g)
    if (entry === undefined) groups.set(g, entry = { list: [], sums: [] })
    return entry
  }
  for (const r of reports) group(r.start).list.push(r)
  const seen = new Set<string>()
  for (const a of options.aggregates ?? []) {
    const id = Buffer.from(a.id).toString('hex')
    if (seen.has(id)) continue
    seen.add(id)
    group(a.start).sums.push(a)
  }
  const periods: CommunityPeriod[] = []
  for (const [start, { list, sums: secure }] of [...groups].sort((a, b) => a[0] - b[0])) {
    const sums: Record<string, number> = {}
    const vars: Record<string, number> = {}
    const caps: Record<string, number> = {}
    for (const q of QUANTITIES) { sums[q.key] = 0; vars[q.key] = 0; caps[q.key] = 0 }
    const pop = new Map<string, { sum: number, variance: number }>()
    const perRelease = new Map<number, number>()
    for (const r of list) {
      perRelease.set(r.start, (perRelease.get(r.start) ?? 0) + 1)
      for (const q of QUANTITIES) {
        sums[q.key]! += r.values[q.key]!
        vars[q.key]! += discreteLaplaceVariance(r.scales[q.key]!)
        caps[q.key]! += releasedCap(r, q.key)
      }
      for (const [root, bit] of r.popular) {
        const p = pop.get(root) ?? { sum: 0, variance: 0 }
        p.sum += bit
        p.variance += discreteLaplaceVariance(r.popularScale)
        pop.set(root, p)
      }
    }
    // a secure sum: one draw of noise for all its contributors (their shares were cut for `threshold`)
    for (const a of secure) {
      perRelease.set(a.start, (perRelease.get(a.start) ?? 0) + a.contributors)
      for (const q of QUANTITIES) {
        sums[q.key]! += a.values[q.key]!
        vars[q.key]! += discreteLaplaceVariance(a.scales[q.key]!) * a.contributors / a.threshold
        caps[q.key]! += a.maxima[q.key]!
      }
    }
    const nodes = list.length + secure.reduce((n, a) => n + a.contributors, 0)
    const ids = list.map(r => Buffer.from(r.id).toString('hex')).sort().join()
    const popular: PopularResource[] = []
    for (const [root, p] of pop) {
      const noisyK = threshold + discreteLaplace(thresholdNoise, seeded(`${start}|${root}|${ids}`))
      const requesters = estimate(p.sum, p.variance, list.length)
      // named only when even the low end of its 95 % interval (of the clamped count) passes the noisy threshold
      if (requesters.value - requesters.margin >= noisyK) popular.push({ root, title: options.titles?.get(root), requesters })
    }
    popular.sort((a, b) => b.requesters.value - a.requesters.value || (a.root < b.root ? -1 : 1))
    const nodesOnline = Math.max(...perRelease.values())
    // a node sees at most the other nodes of the community on its segment (those that report: a bound, not a count)
    caps.segmentPeers = Math.min(caps.segmentPeers!, nodes * Math.max(0, nodesOnline - 1))
    const totals: Record<string, Estimate> = {}
    for (const q of QUANTITIES) totals[q.key] = estimate(sums[q.key]!, vars[q.key]!, caps[q.key])
    const pos = (k: string): number => totals[k]!.value
    const saved = pos('peerMB') + pos('savedMB')
    const inbound = saved + pos('externalMB') + pos('mirrorMB')
    // a ratio of noisy totals means something only when its denominator stands above its noise
    const significant = (value: number, keys: string[]): boolean => value > 1.96 * Math.sqrt(keys.reduce((v, k) => v + vars[k]!, 0))
    const hours = periodHours(period, start)
    periods.push({
      start,
      label: periodLabel(period, start),
      hours,
      nodesOnline,
      reports: list.length + secure.length,
      secureContributors: secure.reduce((n, a) => n + a.contributors, 0),
      totals,
      popular: popular.slice(0, options.top ?? 10),
      savedMB: estimate(saved, vars.peerMB! + vars.savedMB!, caps.peerMB! + caps.savedMB!),
      savedShare: inbound > 0 && significant(inbound, ['peerMB', 'savedMB', 'externalMB', 'mirrorMB']) ? saved / inbound : null,
      throughputMBPerHour: estimate((pos('peerMB') + pos('mirrorMB') + pos('externalMB')) / hours, (vars.peerMB! + vars.mirrorMB! + vars.externalMB!) / hours ** 2),
      errorRate: pos('resources') > 0 && significant(pos('resources'), ['resources']) ? pos('errors') / pos('resources') : null,
      newNodes: totals.newNode!,
      segmentPeers: estimate(pos('segmentPeers') / nodes, vars.segmentPeers! / nodes ** 2)
    })
  }
  return {
    generated: new Date((options.now ?? Date.now)()).toISOString(),
    period,
    reports: reports.length,
    epsilon: [...reports, ...(options.aggregates ?? [])].reduce((m, r) => Math.max(m, r.epsilon), 0),
    threshold,
    periods
  }
}
