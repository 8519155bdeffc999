import { readFileSync } from 'node:fs'
import { AnalyticsPolicyError } from '../errors.js'
import {
  DEFAULT_EPSILON_PER_PERIOD, DEFAULT_LIFETIME_EPSILON, DEFAULT_MAX_RESOURCES, DEFAULT_PERIOD,
  DEFAULT_POPULARITY_THRESHOLD, QUANTITIES, type PeriodName
} from './constants.js'
import { PERIOD_NAMES } from './period.js'
import { repoPath } from '../repo/index.js'

/** The `analytics` key of `<repo>/policy.json` (other keys belong to other parts of cmesh and are not read here). */
export interface AnalyticsPolicy {
  /** Count locally and release aggregates. Off: nothing is counted, released or combined. @default true */
  enabled: boolean
  /** Reporting period: one release per period. @default 'week' */
  period: PeriodName
  /**
   * Privacy loss allowed per period: whatever one member did in a period changes the probability of any
   * released report by at most a factor e^epsilon. @default 1
   */
  epsilonPerPeriod: number
  /** Epsilon the node ever spends (releases add up); once spent nothing more is released. @default 52 */
  lifetimeEpsilon: number
  /** Noisy distinct-requester count a resource must pass (a noisy threshold) to be named in a report. @default 5 */
  popularityThreshold: number
  /** Resources one node counts as requested per period (its popularity contribution cap). @default 4 */
  maxResources: number
  /**
   * Per-node contribution caps per week, by released quantity (servedMB, peerMB, cacheHits, ...: see QUANTITIES),
   * replacing the defaults there. A node's value above its cap is released as the cap; the noise grows with it.
   * @default {}
   */
  caps: Record<string, number>
  /**
   * Release each period in a secure aggregation round with the other nodes (the noise added once for the community,
   * the headline figure given half of epsilon, no popularity), falling back to the node's own release when no round
   * forms. Every node of the community should turn it on together. @default false
   */
  secureAggregation: boolean
}

export const DEFAULT_POLICY: AnalyticsPolicy = {
  enabled: true,
  period: DEFAULT_PERIOD,
  epsilonPerPeriod: DEFAULT_EPSILON_PER_PERIOD,
  lifetimeEpsilon: DEFAULT_LIFETIME_EPSILON,
  popularityThreshold: DEFAULT_POPULARITY_THRESHOLD,
  maxResources: DEFAULT_MAX_RESOURCES,
  caps: {},
  secureAggregation: false
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0

/** Check an `analytics` policy object strictly: unknown fields and out-of-range values are refused. */
export function parseAnalyticsPolicy (value: unknown, where = 'analytics policy'): AnalyticsPolicy {
  if (value === undefined) return { ...DEFAULT_POLICY }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AnalyticsPolicyError(`${where} must be an object`)
  const o = value as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!(key in DEFAULT_POLICY)) throw new AnalyticsPolicyError(`${where}: unknown field ${JSON.stringify(key)}`)
  }
  const p = { ...DEFAULT_POLICY }
  if (o.secureAggregation !== undefined) {
    if (typeof o.secureAggregation !== 'boolean') throw new AnalyticsPolicyError(`${where}: secureAggregation must be true or false`)
    p.secureAggregation = o.secureAggregation
  }
  if (o.enabled !== undefined) {
    if (typeof o.enabled !== 'boolean') throw new AnalyticsPolicyError(`${where}: enabled must be true or false`)
    p.enabled = o.enabled
  }
  if (o.period !== undefined) {
    if (typeof o.period !== 'string' || !(PERIOD_NAMES as readonly string[]).includes(o.period)) throw new AnalyticsPolicyError(`${where}: period must be one of ${PERIOD_NAMES.join(', ')}`)
    p.period = o.period as PeriodName
  }
  for (const key of ['epsilonPerPeriod', 'lifetimeEpsilon'] as const) {
    if (o[key] === undefined) continue
    if (!positive(o[key]) || (o[key] as number) > 100) throw new AnalyticsPolicyError(`${where}: ${key} must be a number > 0 and <= 100`)
    p[key] = o[key] as number
  }
  if (o.popularityThreshold !== undefined) {
    if (typeof o.popularityThreshold !== 'number' || !(o.popularityThreshold >= 0) || !Number.isFinite(o.popularityThreshold)) throw new AnalyticsPolicyError(`${where}: popularityThreshold must be a number >= 0`)
    p.popularityThreshold = o.popularityThreshold
  }
  if (o.maxResources !== undefined) {
    if (!Number.isSafeInteger(o.maxResources) || (o.maxResources as number) < 1 || (o.maxResources as number) > 64) throw new AnalyticsPolicyError(`${where}: maxResources must be an integer from 1 to 64`)
    p.maxResources = o.maxResources as number
  }
  if (o.caps !== undefined) {
    if (typeof o.caps !== 'object' || o.caps === null || Array.isArray(o.caps)) throw new AnalyticsPolicyError(`${where}: caps must be an object`)
    const caps: Record<string, number> = {}
    for (const [k, v] of Object.entries(o.caps)) {
      const q = QUANTITIES.find(q => q.key === k)
      if (q === undefined || q.key === 'newNode') throw new AnalyticsPolicyError(`${where}: caps: unknown quantity ${JSON.stringify(k)} (one of ${QUANTITIES.filter(q => q.key !== 'newNode').map(q => q.key).join(', ')})`)
      if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > 1e9) throw new AnalyticsPolicyError(`${where}: caps.${k} must be an integer from 1 to 1e9`)
      caps[k] = v as number
    }
    p.caps = caps
  }
  if (p.epsilonPerPeriod > p.lifetimeEpsilon) throw new AnalyticsPolicyError(`${where}: epsilonPerPeriod exceeds lifetimeEpsilon`)
  return p
}

/** The analytics policy of a repository: `<repo>/policy.json`'s `analytics` key, defaults when absent. */
export function readAnalyticsPolicy (repo: string): AnalyticsPolicy {
  const file = repoPath(repo, 'policy')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...DEFAULT_POLICY }
    throw new AnalyticsPolicyError(`cannot read ${file}: ${(err as Error).message}`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new AnalyticsPolicyError(`${file} is not JSON: ${(err as Error).message}`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new AnalyticsPolicyError(`${file} must hold a JSON object`)
  return parseAnalyticsPolicy((doc as Record<string, unknown>).analytics, `${file} analytics`)
}
