import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { combineReports } from '../../src/analytics/aggregate.js'
import { periodStart } from '../../src/analytics/period.js'
import { noisyRelease } from '../../src/analytics/release.js'
import { renderReport } from '../../src/analytics/report.js'
import { seededUniform } from '../helpers/seeded.js'

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

describe('figures people can trust', () => {
  /** n nodes of a day, each with the same counters, noised from a seeded generator (the same draws every run). */
  function day (n: number, counters: Record<string, number>, epsilon: number, seed: number, requested = 0): ReturnType<typeof noisyRelease>[] {
    const uniform = seededUniform(seed)
    return Array.from({ length: n }, (_, i) => noisyRelease({
      period: 'day',
      start: DAY,
      counters,
      requested: new Set(i < requested ? [ROOT] : []),
      catalog: [ROOT],
      epsilon,
      maxResources: 1
    }, uniform))
  }
  const SMALL = { 'bytes.received.peer': 20e6, 'uptime.seconds': 20 * 3600, 'segment.peers': 3, 'peers.seen': 3 }

  it('a small community at epsilon 1: headline figures read "too noisy" beside their margin, nothing is named', () => {
    // 4 nodes, as an operator saw them: every headline figure is well inside its noise
    for (let seed = 1; seed <= 20; seed++) {
      const report = combineReports(day(4, SMALL, 1, seed, 4), { period: 'day', threshold: 2 })
      const p = report.periods[0]!
      assert.ok(p.savedMB.tooNoisy, `seed ${seed}: saved ${p.savedMB.value} ± ${p.savedMB.margin}`)
      assert.equal(p.popular.length, 0, `seed ${seed}: a resource at ${JSON.stringify(p.popular[0]?.requesters)} was named`)
      const html = renderReport(report, 'html')
      const glance = html.slice(html.indexOf('At a glance'), html.indexOf('Network health'))
      assert.match(glance, /too noisy<\/div>external bandwidth saved <span class="note">\([\d,]+ ± [\d,]+ MB\)/)
      assert.match(glance, /peers on a node&#39;s own segment \(mean\)/)
      assert.doesNotMatch(glance, /<div class="big">[\d,]+ MB<\/div>(?!<div class="margin">)/, 'no figure without its margin')
      assert.match(renderReport(report, 'md'), /too noisy \([\d,]+ ± [\d,]+\) MB/)
    }
  })

  it('totals are clamped to what the nodes could have done: never negative, uptime within the period, segment peers below the nodes', () => {
    let clampedLow = 0
    let clampedHigh = 0
    for (let seed = 1; seed <= 30; seed++) {
      const reports = day(4, SMALL, 1, seed)
      const p = combineReports(reports, { period: 'day' }).periods[0]!
      const raw = (k: string): number => reports.reduce((s, r) => s + r.values[k]!, 0)
      for (const [k, e] of Object.entries(p.totals)) assert.ok(e.value >= 0, `seed ${seed}: ${k} = ${e.value}`)
      assert.ok(p.totals.uptimeHours!.value <= 4 * 24, `uptime ${p.totals.uptimeHours!.value} h of 4 nodes in a day`)
      assert.ok(p.segmentPeers.value <= 3, `segment peers ${p.segmentPeers.value} of 4 nodes`)
      assert.ok(p.totals.newNode!.value <= 4)
      if (raw('uptimeHours') < 0 || raw('peers') < 0) clampedLow++
      if (raw('uptimeHours') > 96 || raw('segmentPeers') > 12) clampedHigh++
      const json = JSON.parse(renderReport(combineReports(reports, { period: 'day' }), 'json')) as { periods: Array<{ totals: Record<string, { value: number }> }> }
      assert.ok(Object.values(json.periods[0]!.totals).every(e => e.value >= 0))
      const csv = renderReport(combineReports(reports, { period: 'day' }), 'csv')
      for (const line of csv.trim().split('\n').slice(1)) assert.doesNotMatch(line.split(',')[4]!, /^-/, line)
    }
    // the raw sums did go out of range: the clamps were put to work
    assert.ok(clampedLow > 0 && clampedHigh > 0, `low ${clampedLow}, high ${clampedHigh}`)
  })

  it('a figure above its margin shows value ± margin; a resource is named only when its count clears the threshold by the margin', () => {
    // 40 nodes at epsilon 50 and 10 MB caps: every figure far above its noise
    const uniform = seededUniform(7)
    const reports = Array.from({ length: 40 }, (_, i) => noisyRelease({
      period: 'day',
      start: DAY,
      counters: { ...SMALL, 'bytes.received.peer': 10e6 },
      requested: new Set(i < 30 ? [ROOT] : []),
      catalog: [ROOT],
      epsilon: 50,
      maxResources: 1,
      caps: { peerMB: 70, savedMB: 70, externalMB: 70, mirrorMB: 70, segmentPeers: 5 }
    }, uniform))
    const report = combineReports(reports, { period: 'day', threshold: 5, titles: new Map([[ROOT, 'Lesson']]) })
    const p = report.periods[0]!
    assert.equal(p.savedMB.tooNoisy, false)
    assert.ok(Math.abs(p.savedMB.value - 400) <= p.savedMB.margin * 2, `${p.savedMB.value} ± ${p.savedMB.margin}`)
    assert.equal(p.popular[0]?.title, 'Lesson')
    assert.ok(p.popular[0]!.requesters.value - p.popular[0]!.requesters.margin >= 5)
    const html = renderReport(report, 'html')
    const glance = html.slice(html.indexOf('At a glance'), html.indexOf('Network health'))
    assert.match(glance, /<div class="big">[\d,]+ MB<\/div><div class="margin">± [\d,]+ MB<\/div>external bandwidth saved/)
    assert.doesNotMatch(glance, /too noisy/)
    assert.match(glance, /<div class="big">[\d.]+<\/div><div class="margin">± [\d.]+<\/div>peers on a node/)
    // the threshold counts the margin: at epsilon 5 the count of 30 requesters carries a margin of about 10; a
    // threshold just below the count (with no noise of its own) would have named it, its margin keeps it out
    const loud = day(40, SMALL, 5, 11, 30)
    const count = Math.min(40, loud.reduce((s, r) => s + r.popular[0]![1], 0))
    const fair = combineReports(loud, { period: 'day', threshold: count - 1, thresholdNoise: 1e-9 }).periods[0]!
    assert.equal(fair.popular.length, 0, `named at ${count} against k = ${count - 1}`)
    const low = combineReports(loud, { period: 'day', threshold: count - 20, thresholdNoise: 1e-9 }).periods[0]!
    assert.equal(low.popular.length, 1, `not named at ${count} against k = ${count - 20}`)
  })
})
