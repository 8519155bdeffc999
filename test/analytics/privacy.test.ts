import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { combineReports } from '../../src/analytics/aggregate.js'
import { Analytics } from '../../src/analytics/analytics.js'
import { QUANTITIES } from '../../src/analytics/constants.js'
import { discreteLaplaceShare, minimumContributors } from '../../src/analytics/noise-shares.js'
import { discreteLaplace, discreteLaplacePmf, type Uniform } from '../../src/policy/privacy/privacy-noise.js'
import { periodEnd, periodStart } from '../../src/analytics/period.js'
import { epsilonShares, noisyRelease, quantityCap, secureFigures, type ReleaseInput } from '../../src/analytics/release.js'
import { seededUniform } from '../helpers/seeded.js'
import { tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const WEEK = periodStart('week', Date.UTC(2026, 10, 23))
const ROOT_A = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const ROOT_B = 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4'

/** One member's activity in a week: MB served, and whether it requested ROOT_A. */
function member (servedMB: number, requestedA: boolean, epsilon: number): ReleaseInput {
  return {
    period: 'week',
    start: WEEK,
    counters: { 'bytes.served': servedMB * 1e6, 'uptime.seconds': 3600 * 40 },
    requested: new Set(requestedA ? [ROOT_A] : []),
    catalog: [ROOT_A, ROOT_B],
    epsilon,
    maxResources: 1
  }
}

/**
 * Release a community's reports `runs` times (each member adds its own noise, drawn from `uniform`) and combine
 * them, as any node would; returns the combined value of `pick` for every run.
 */
function community (members: ReleaseInput[], runs: number, pick: (r: ReturnType<typeof combineReports>) => number, uniform: Uniform): number[] {
  const out: number[] = []
  for (let i = 0; i < runs; i++) {
    const combined = combineReports(members.map(m => noisyRelease(m, uniform)), { period: 'week', threshold: -1e9 })
    out.push(pick(combined))
  }
  return out
}

/** Wilson interval of a proportion at z standard deviations. */
function wilson (k: number, n: number, z: number): [number, number] {
  const p = k / n
  const d = 1 + z * z / n
  const c = p + z * z / (2 * n)
  const r = z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
  return [(c - r) / d, (c + r) / d]
}

/**
 * The largest ratio between the two release distributions that the samples prove: over the events "the released
 * value is at least t" and "is below t" for t at every 2.5 % quantile, the lower confidence bound (z = 4.5 on
 * each side, so a sampling fluke is negligible even over all the events) of P1(event) / P2(event), both ways.
 * Under epsilon-DP every such ratio is at most e^epsilon.
 */
function provenRatio (a: number[], b: number[]): number {
  const sa = [...a].sort((x, y) => x - y)
  const sb = [...b].sort((x, y) => x - y)
  const pooled = [...sa, ...sb].sort((x, y) => x - y)
  const below = (sorted: number[], t: number): number => {
    let lo = 0
    let hi = sorted.length
    while (lo < hi) { const m = (lo + hi) >> 1; if (sorted[m]! < t) lo = m + 1; else hi = m }
    return lo
  }
  let worst = 0
  for (let q = 1; q < 40; q++) {
    const t = pooled[Math.floor(q * pooled.length / 40)]!
    const ka = below(sa, t)
    const kb = below(sb, t)
    for (const [x, y] of [[ka, kb], [sa.length - ka, sb.length - kb]] as Array<[number, number]>) {
      const [aLo, aHi] = wilson(x, sa.length, 4.5)
      const [bLo, bHi] = wilson(y, sb.length, 4.5)
      worst = Math.max(worst, aLo / Math.max(bHi, 1e-12), bLo / Math.max(aHi, 1e-12))
    }
  }
  return worst
}

/**
 * Samples per distribution compared. The differencing tests draw their noise from a seeded generator
 * (test/helpers/seeded.ts, one seed per test), so each run sees the same samples and the outcome is deterministic;
 * with a fresh seed, a mechanism that is epsilon-DP would fail a check only if one of provenRatio's 39 x 2 x 4
 * one-sided Wilson bounds at z = 4.5 (tail 3.4e-6 each) missed its proportion: about 1e-3 by the union bound.
 * The node:crypto sampler itself is checked against the pmf in the first test.
 */
const RUNS = 30_000

describe('differential privacy of released reports', () => {
  it('discrete Laplace: neighbouring values differ by at most e^(1/scale) at every point, and the sampler follows the pmf', () => {
    for (const scale of [0.5, 1, 3.7, 40]) {
      let total = 0
      for (let x = -Math.ceil(scale * 60); x <= Math.ceil(scale * 60); x++) {
        total += discreteLaplacePmf(x, scale)
        assert.ok(discreteLaplacePmf(x, scale) / discreteLaplacePmf(x + 1, scale) <= Math.exp(1 / scale) * (1 + 1e-9))
      }
      assert.ok(Math.abs(total - 1) < 1e-6, `pmf of scale ${scale} sums to ${total}`)
    }
    const n = 40_000
    const counts = new Map<number, number>()
    for (let i = 0; i < n; i++) {
      const x = discreteLaplace(2)
      counts.set(x, (counts.get(x) ?? 0) + 1)
    }
    for (let x = -4; x <= 4; x++) {
      const [lo, hi] = wilson(counts.get(x) ?? 0, n, 4.5)
      const p = discreteLaplacePmf(x, 2)
      assert.ok(p >= lo && p <= hi, `P(${x}) = ${p} outside [${lo}, ${hi}]`)
    }
  })

  // epsilon chosen so the quantity tested gets epsilon_i = 1 of the release's budget: a bound of e (2.72) that
  // the samples can show, where the default epsilon's share would need millions of runs
  const scalarEpsilon = 1 / epsilonShares(1).scalar
  const servedCap = quantityCap(QUANTITIES.find(q => q.key === 'servedMB')!, 'week', WEEK)

  it('differencing: two communities differing only in one member serving a full cap of bytes release served-MB totals within e^epsilon', () => {
    const others = [member(300, false, scalarEpsilon), member(20, true, scalarEpsilon), member(0, false, scalarEpsilon), member(900, true, scalarEpsilon)]
    const uniform = seededUniform(101)
    const withMember = community([member(servedCap * 3, true, scalarEpsilon), ...others], RUNS, r => r.periods[0]!.totals.servedMB!.value, uniform)
    const without = community([member(0, false, scalarEpsilon), ...others], RUNS, r => r.periods[0]!.totals.servedMB!.value, uniform)
    const ratio = provenRatio(withMember, without)
    assert.ok(ratio <= Math.E, `proven ratio ${ratio.toFixed(2)} exceeds e^1`)
    // the member's activity is visible in the means (the releases carry information), only hidden in each run
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
    assert.ok(mean(withMember) - mean(without) > servedCap / 2)
  })

  it('the same test catches a mechanism with half the noise it claims', () => {
    const others = [member(300, false, 2 * scalarEpsilon), member(20, true, 2 * scalarEpsilon)]
    const uniform = seededUniform(102)
    const withMember = community([member(servedCap, true, 2 * scalarEpsilon), ...others], RUNS, r => r.periods[0]!.totals.servedMB!.value, uniform)
    const without = community([member(0, false, 2 * scalarEpsilon), ...others], RUNS, r => r.periods[0]!.totals.servedMB!.value, uniform)
    assert.ok(provenRatio(withMember, without) > Math.E, 'a release spending epsilon 2 passed a check for epsilon 1')
  })

  it('differencing: one member requesting a resource or not changes its popularity count within e^epsilon', () => {
    const popularEpsilon = 1 / epsilonShares(1).popular
    const others = [member(0, true, popularEpsilon), member(0, false, popularEpsilon), member(0, true, popularEpsilon)]
    const count = (r: ReturnType<typeof combineReports>): number => r.periods[0]!.popular.find(p => p.root === ROOT_A)!.requesters.value
    const uniform = seededUniform(103)
    const withMember = community([member(0, true, popularEpsilon), ...others], RUNS, count, uniform)
    const without = community([member(0, false, popularEpsilon), ...others], RUNS, count, uniform)
    assert.ok(provenRatio(withMember, without) <= Math.E)
  })
})

describe('differential privacy of the community sum under secure aggregation', () => {
  /**
   * The sum a secure aggregation round gives: each member's value clamped to the cap plus its share of noise of
   * scale cap / epsilon cut for minimumContributors(cohort) shares. Only the sum is ever seen.
   */
  function community (values: number[], cohort: number, cap: number, epsilon: number, runs: number, uniform: Uniform): number[] {
    const parts = minimumContributors(cohort)
    const share = (): number => discreteLaplaceShare(cap / epsilon, parts, uniform)
    return Array.from({ length: runs }, () => values.reduce((s, v) => s + Math.min(cap, Math.max(0, v)) + share(), 0))
  }

  it('differencing: two communities differing in what one member did, at the smallest size that unmasks, stay within e^epsilon', () => {
    // who contributed is public (as the count of releases is today): the guarantee covers what a member did. A
    // cohort of 6 unmasks with 4 contributions, whose noise is then exactly the full scale: the tightest case
    const cap = 20
    const others = [3, 17, 0]
    const uniform = seededUniform(104)
    const withMember = community([cap, ...others], 6, cap, 1, RUNS, uniform)
    const without = community([0, ...others], 6, cap, 1, RUNS, uniform)
    assert.ok(provenRatio(withMember, without) <= Math.E, 'what the member did shows through the sum')
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
    assert.ok(mean(withMember) - mean(without) > cap / 2, 'the sum carries the member\'s value on average')
  })

  it('differencing in the secure release format: one member at its full caps or idle moves the headline sum within e^(epsilon / 2)', () => {
    // secureFigures gives the two figures of "external bandwidth saved" a quarter of epsilon each
    const caps = { peerMB: 20, savedMB: 20 }
    const figures = (mb: number): ReturnType<typeof secureFigures> => secureFigures({
      period: 'week', start: WEEK, epsilon: 1, caps, counters: { 'bytes.received.peer': mb * 1e6, 'external.bytes.saved': mb * 1e6 }
    })
    const parts = minimumContributors(6)
    const uniform = seededUniform(105)
    const share = (scale: number): number => discreteLaplaceShare(scale, parts, uniform)
    const saved = (members: number[]): number[] => Array.from({ length: RUNS }, () => members.map(figures).reduce((s, f) => {
      return s + f.values.peerMB! + f.values.savedMB! + share(f.scales.peerMB!) + share(f.scales.savedMB!)
    }, 0))
    assert.equal(figures(0).scales.peerMB, 80)
    const withMember = saved([20, 5, 12, 0])
    const without = saved([0, 5, 12, 0])
    assert.ok(provenRatio(withMember, without) <= Math.exp(0.5), 'what the member did shows through the headline sum')
    // and the test sees it when each figure's noise claims the whole epsilon (scale cap / 1)
    const thin = (members: number[]): number[] => Array.from({ length: RUNS }, () => members.reduce((s, mb) => {
      return s + 2 * mb + share(20) + share(20)
    }, 0))
    assert.ok(provenRatio(thin([20, 5, 12, 0]), thin([0, 5, 12, 0])) > Math.exp(0.5))
  })

  it('the same test catches shares cut for too many contributors (noise for 8 when 4 may unmask)', () => {
    const cap = 20
    const parts = 8
    const uniform = seededUniform(106)
    const share = (): number => discreteLaplaceShare(cap, parts, uniform)
    const run = (values: number[]): number[] => Array.from({ length: RUNS }, () => values.reduce((s, v) => s + v + share(), 0))
    assert.ok(provenRatio(run([cap, 3, 17, 0]), run([0, 3, 17, 0])) > Math.E)
  })
})

describe('privacy budget', () => {
  it('a release spends the period budget; the next is refused and nothing is released until the next period', async t => {
    let now = WEEK + 3600_000
    const analytics = new Analytics(join(tempDir(t), 'repo'), {
      enabled: true,
      now: () => now,
      policy: { epsilonPerPeriod: 1, lifetimeEpsilon: 2.5, caps: { servedMB: 50 } }
    })
    t.after(async () => await analytics.stop())
    analytics.metrics.count('bytes.served', 5e6)
    const first = await analytics.release({ epsilon: 0.5 })
    assert.equal(first.budget.period, 0.5)
    assert.equal(first.report.scales.servedMB, 50 / epsilonShares(0.5).scalar, 'the policy\'s cap sets the noise')
    await analytics.release({ epsilon: 0.5 })
    await assert.rejects(analytics.release({ epsilon: 0.1 }), { code: 'ERR_PRIVACY_BUDGET' })
    assert.equal(analytics.reports().length, 2, 'a refused release left nothing behind')
    now = periodEnd('week', WEEK) + 1000
    await analytics.release()
    assert.equal(analytics.reports().length, 3)
    // 2 of 2.5 spent: a new period's full epsilon would pass the lifetime cap
    now = periodEnd('week', periodEnd('week', WEEK)) + 1000
    await assert.rejects(analytics.release(), { code: 'ERR_PRIVACY_BUDGET' })
    await analytics.release({ epsilon: 0.5 })
    await assert.rejects(analytics.release({ epsilon: 0.01 }), /lifetime/)
    assert.equal(analytics.reports().length, 4)
  })

  it('a daemon releases each closed period by itself, once', async t => {
    let now = WEEK + 3600_000
    const analytics = new Analytics(join(tempDir(t), 'repo'), {
      enabled: true,
      now: () => now,
      autoRelease: true,
      releaseCheckMs: 20,
      flushIntervalMs: 20,
      policy: { epsilonPerPeriod: 1 }
    })
    t.after(async () => await analytics.stop())
    analytics.start()
    analytics.metrics.count('bytes.served', 3e6)
    // a few looks while the week runs (the daemon's timer, not the test's clock, makes them)
    await waitFor(() => analytics.releaseChecks >= 3, { what: 'looks for a closed period while the week runs' })
    assert.equal(analytics.reports().length, 0, 'nothing released while the week runs')
    now = periodEnd('week', WEEK) + 60_000
    await waitFor(() => analytics.reports().length > 0, { what: 'the closed week to be released' })
    // and a few looks more, each of which could release it again
    const checks = analytics.releaseChecks
    await waitFor(() => analytics.releaseChecks >= checks + 3, { what: 'looks after the release' })
    assert.deepEqual(analytics.reports().map(r => r.start), [WEEK], 'the closed week, once')
    assert.equal(analytics.budget(WEEK).period, 1)
  })

  it('the ledger survives a restart: a reopened node cannot spend the period again', async t => {
    const repo = join(tempDir(t), 'repo')
    const now = (): number => WEEK + 7200_000
    const a = new Analytics(repo, { enabled: true, now, policy: { epsilonPerPeriod: 1 } })
    await a.release()
    await a.stop()
    const b = new Analytics(repo, { enabled: true, now, policy: { epsilonPerPeriod: 1 } })
    t.after(async () => await b.stop())
    await assert.rejects(b.release(), { code: 'ERR_PRIVACY_BUDGET' })
    assert.equal(b.budget().lifetime, 1)
  })
})
