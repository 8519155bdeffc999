import { randomBytes, randomInt } from 'node:crypto'
import { MAX_POPULARITY_ENTRIES, POPULARITY_EPSILON_SHARE, QUANTITIES, SECURE_EPSILON_WEIGHTS, type PeriodName, type Quantity } from './constants.js'
import { discreteLaplace, secureUniform, type Uniform } from '../policy/privacy/privacy-noise.js'
import { periodHours } from './period.js'
import type { AnalyticsReport } from './wire.js'

/** What one node did in one period, as its own counters say, and what it may spend to tell. */
export interface ReleaseInput {
  period: PeriodName
  start: number
  /** Counter sums and gauge maxima of the period, by counter name; 'new.node' is 1 in the node's first period. */
  counters: Record<string, number>
  /** Roots this node requested in the period. */
  requested: Set<string>
  /** The public resources reported on: roots in force in the node's collections (at most MAX_POPULARITY_ENTRIES). */
  catalog: string[]
  epsilon: number
  /** Resources counted as requested at most (the popularity vector's sensitivity). */
  maxResources: number
  /** Caps per week replacing QUANTITIES' defaults, by quantity key. @default {} */
  caps?: Record<string, number>
}

/** Most released units one node contributes to `q` in a period: its sensitivity. */
export function quantityCap (q: Quantity, period: PeriodName, start: number, capPerWeek = q.capPerWeek): number {
  if (!q.scales) return capPerWeek
  return Math.max(1, Math.ceil(capPerWeek * periodHours(period, start) / 168))
}

/** Epsilon each scalar quantity gets, and the popularity vector's share. */
export function epsilonShares (epsilon: number): { scalar: number, popular: number } {
  return { scalar: epsilon * (1 - POPULARITY_EPSILON_SHARE) / QUANTITIES.length, popular: epsilon * POPULARITY_EPSILON_SHARE }
}

/**
 * A differentially private release of one node's period. Each quantity is clamped to [0, cap] in whole units
 * (so one member's activity, present or absent, moves it by at most cap) and gets discrete Laplace noise of scale
 * cap / epsilon_i; the popularity vector has a 1 for at most `maxResources` requested resources of the catalog
 * (a random choice when more) and noise of scale maxResources / epsilon_p in every entry. The epsilon_i and
 * epsilon_p add up to `epsilon` (sequential composition), so the whole release is epsilon-DP for one member's
 * activity in the period.
 */
export function noisyRelease (input: ReleaseInput, uniform: Uniform = secureUniform): AnalyticsReport {
  const shares = epsilonShares(input.epsilon)
  const values: Record<string, number> = {}
  const scales: Record<string, number> = {}
  for (const q of QUANTITIES) {
    const cap = quantityCap(q, input.period, input.start, input.caps?.[q.key])
    const raw = Math.floor((input.counters[q.source] ?? 0) / q.unit)
    const clamped = Math.min(cap, Math.max(0, raw))
    const s = cap / shares.scalar
    values[q.key] = clamped + discreteLaplace(s, uniform)
    scales[q.key] = s
  }
  const catalog = [...new Set(input.catalog)].sort().slice(0, MAX_POPULARITY_ENTRIES)
  const hits = catalog.filter(r => input.requested.has(r))
  while (hits.length > input.maxResources) hits.splice(randomInt(hits.length), 1)
  const chosen = new Set(hits)
  const popularScale = input.maxResources / shares.popular
  const popular = catalog.map((root): [string, number] => [root, (chosen.has(root) ? 1 : 0) + discreteLaplace(popularScale, uniform)])
  return { v: 1, id: randomBytes(16), period: input.period, start: input.start, epsilon: input.epsilon, values, scales, popular, popularScale }
}

/** One node's part of a secure round: its clamped figures, each figure's cap, and the community noise scale in it. */
export interface SecureFigures {
  values: Record<string, number>
  caps: Record<string, number>
  scales: Record<string, number>
  /** The caps and weights, as text: nodes whose parameters differ run different rounds. */
  params: string
}

/**
 * The figures a node puts in a secure aggregation round: each quantity clamped to [0, cap] as in noisyRelease, with
 * epsilon split by SECURE_EPSILON_WEIGHTS (the headline figure gets half) and no popularity vector. The noise is
 * not added here: each node adds its share in the round, and the sum carries discrete Laplace of `scales`.
 */
export function secureFigures (input: Omit<ReleaseInput, 'requested' | 'catalog' | 'maxResources'>): SecureFigures {
  const values: Record<string, number> = {}
  const caps: Record<string, number> = {}
  const scales: Record<string, number> = {}
  for (const q of QUANTITIES) {
    const cap = quantityCap(q, input.period, input.start, input.caps?.[q.key])
    values[q.key] = Math.min(cap, Math.max(0, Math.floor((input.counters[q.source] ?? 0) / q.unit)))
    caps[q.key] = cap
    scales[q.key] = cap / (input.epsilon * SECURE_EPSILON_WEIGHTS[q.key]!)
  }
  return { values, caps, scales, params: JSON.stringify({ caps, weights: SECURE_EPSILON_WEIGHTS }) }
}
