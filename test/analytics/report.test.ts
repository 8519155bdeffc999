import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { combineReports } from '../../src/analytics/aggregate.js'
import { periodStart } from '../../src/analytics/period.js'
import { noisyRelease } from '../../src/analytics/release.js'
import { renderReport } from '../../src/analytics/report.js'

/** Uniform in (0, 1] from a seeded xorshift32: reproducible noise for tests of what noise does to a report. */
function seededUniform (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return (x + 1) / 4294967296
  }
}

const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const DAY = periodStart('day', Date.UTC(2026, 10, 23))

function community (nodes: number, requested: number): ReturnType<typeof noisyRelease>[] {
  return Array.from({ length: nodes }, (_, i) => noisyRelease({
    period: 'day',
    start: DAY,
    counters: { 'bytes.received.peer': 5e6 },
    requested: new Set(i < requested ? [ROOT] : []),
    catalog: [ROOT],
    epsilon: 50,
    maxResources: 1
  }))
}

describe('community reports', () => {
  it('name a resource only when its noisy requester count passes the noisy threshold', () => {
    // epsilon 50: each node's popularity noise is tiny, and the threshold's (scale 2) passes 20 either way with
    // probability e^-10 / 1.6, so the outcome is clear on either side of k = 20
    const titles = new Map([[ROOT, 'Lesson']])
    assert.deepEqual(combineReports(community(40, 40), { period: 'day', threshold: 20, titles }).periods[0]!.popular.map(p => p.title), ['Lesson'])
    assert.deepEqual(combineReports(community(40, 0), { period: 'day', threshold: 20, titles }).periods[0]!.popular, [])
  })

  it('give the same threshold draw for the same reports, so regenerating a report does not change it', () => {
    const reports = community(8, 4)
    const a = combineReports(reports, { period: 'day', threshold: 4 })
    for (let i = 0; i < 5; i++) assert.deepEqual(combineReports(reports, { period: 'day', threshold: 4 }).periods[0]!.popular, a.periods[0]!.popular)
  })

  it('escape untrusted titles in every format, and keep spreadsheet formulas out of the CSV', () => {
    const titles = new Map([[ROOT, '=HYPERLINK("http://x") <img src=x onerror=alert(1)> | *bold*']])
    const report = combineReports(community(30, 30), { period: 'day', threshold: 1, titles })
    assert.equal(report.periods[0]!.popular.length, 1)
    const html = renderReport(report, 'html')
    assert.ok(!html.includes('<img'), 'no markup from a title')
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'))
    const md = renderReport(report, 'md')
    assert.ok(md.includes('\\<img src=x onerror=alert(1)\\> \\| \\*bold\\*'))
    const csv = renderReport(report, 'csv')
    assert.ok(csv.includes('"\'=HYPERLINK(""http://x"")'), 'a formula becomes text')
    assert.throws(() => renderReport(report, 'pdf' as never), { code: 'ERR_INVALID_OPTION' })
  })

  it('give a share of bytes saved only when the bytes in stand above their noise', () => {
    // the noise is drawn from a seeded generator: the same draws every run (with secure noise the noisy case below
    // could, rarely, land near the truth)
    const uniform = seededUniform(20261207)
    // 40 nodes, 10 MB each from peers in a week, byte caps of 10 MB, epsilon 50: 400 MB against a margin of ~130
    const caps = { peerMB: 10, savedMB: 10, externalMB: 10, mirrorMB: 10 }
    const week = periodStart('week', DAY)
    const many = Array.from({ length: 40 }, () => noisyRelease({
      period: 'week',
      start: week,
      counters: { 'bytes.received.peer': 10e6 },
      requested: new Set(),
      catalog: [],
      epsilon: 50,
      maxResources: 1,
      caps
    }, uniform))
    const clear = combineReports(many, { period: 'week' }).periods[0]!
    assert.ok(clear.savedShare !== null && clear.savedShare > 0.7, `share ${String(clear.savedShare)}`)
    // 3 nodes at epsilon 1: the margin (thousands of MB) dwarfs 15 MB
    const few = Array.from({ length: 3 }, () => noisyRelease({
      period: 'day',
      start: DAY,
      counters: { 'bytes.received.peer': 5e6 },
      requested: new Set(),
      catalog: [],
      epsilon: 1,
      maxResources: 1
    }, uniform))
    const noisy = combineReports(few, { period: 'day' }).periods[0]!
    assert.equal(noisy.savedShare, null)
    assert.equal(noisy.errorRate, null)
    assert.match(renderReport(combineReports(few, { period: 'day' }), 'md'), /too noisy/)
  })

  it('group daily releases by week and give margins that grow with the number of nodes', () => {
    const days = [0, 1, 2, 7].map(d => DAY + d * 86_400_000)
    const reports = days.flatMap(start => [1, 2, 3].map(() => noisyRelease({
      period: 'day',
      start,
      counters: {},
      requested: new Set(),
      catalog: [],
      epsilon: 1,
      maxResources: 1
    })))
    const weekly = combineReports(reports, { period: 'week' })
    assert.deepEqual(weekly.periods.map(p => [p.reports, p.nodesOnline]), [[9, 3], [3, 3]])
    assert.ok(weekly.periods[0]!.totals.servedMB!.margin > weekly.periods[1]!.totals.servedMB!.margin)
  })
})
