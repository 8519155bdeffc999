import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { MAX_REPORT_BYTES, QUANTITIES } from '../../src/analytics/constants.js'
import { periodStart } from '../../src/analytics/period.js'
import { noisyRelease } from '../../src/analytics/release.js'
import { decodeReport, encodeReport, type AnalyticsReport } from '../../src/analytics/wire.js'

const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const START = periodStart('week', Date.UTC(2026, 10, 25))

function report (): AnalyticsReport {
  return noisyRelease({
    period: 'week',
    start: START,
    counters: { 'bytes.served': 5e8 },
    requested: new Set([ROOT]),
    catalog: [ROOT],
    epsilon: 1,
    maxResources: 4
  })
}

const mutate = (over: (r: Record<string, unknown>) => void): Uint8Array => {
  const r = structuredClone(report()) as unknown as Record<string, unknown>
  over(r)
  return dagCbor.encode(r)
}

describe('analytics report wire format', () => {
  it('round-trips every release', () => {
    fc.assert(fc.property(fc.double({ min: 0.01, max: 100, noNaN: true }), eps => {
      const r = noisyRelease({
        period: 'day',
        start: periodStart('day', Date.UTC(2026, 0, 3)),
        counters: { 'bytes.served': 1e9 },
        requested: new Set(),
        catalog: [ROOT],
        epsilon: eps,
        maxResources: 2
      })
      assert.deepEqual(decodeReport(encodeReport(r)), { ...r, id: new Uint8Array(r.id) })
    }), { numRuns: 50 })
  })

  it('refuses unknown or missing fields, bad values, misaligned periods, bad roots and non-canonical bytes', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['extra field', mutate(r => { r.peer = 'x' })],
      ['missing field', mutate(r => { delete r.scales })],
      ['extra value', mutate(r => { (r.values as Record<string, number>).who = 1 })],
      ['float value', mutate(r => { (r.values as Record<string, number>).servedMB = 1.5 })],
      ['huge value', mutate(r => { (r.values as Record<string, number>).servedMB = 2e12 })],
      ['zero scale', mutate(r => { (r.scales as Record<string, number>).servedMB = 0 })],
      ['misaligned start', mutate(r => { r.start = START + 1 })],
      ['unknown period', mutate(r => { r.period = 'year' })],
      ['short id', mutate(r => { r.id = new Uint8Array(4) })],
      ['not a CID', mutate(r => { r.popular = [['12D3KooWabc', 1]] })],
      ['repeated root', mutate(r => { r.popular = [[ROOT, 1], [ROOT, 0]] })],
      ['too many roots', mutate(r => { r.popular = Array.from({ length: 65 }, () => [ROOT, 0]) })],
      ['epsilon out of range', mutate(r => { r.epsilon = 1000 })],
      ['not a map', dagCbor.encode([1, 2, 3])],
      ['garbage', new Uint8Array([0xff, 0x00, 0x13])],
      ['oversized', new Uint8Array(MAX_REPORT_BYTES + 1)]
    ]
    for (const [what, bytes] of cases) assert.throws(() => decodeReport(bytes), { code: 'ERR_INVALID_REPORT' }, what)
    // non-canonical: the same map with its keys in another order (hand-built CBOR header + reordered entries)
    const good = encodeReport(report())
    assert.doesNotThrow(() => decodeReport(good))
    const indefinite = Uint8Array.from([0xbf, ...good.subarray(1), 0xff])
    assert.throws(() => decodeReport(indefinite), { code: 'ERR_INVALID_REPORT' })
  })

  it('holds one value per quantity, all integers, and no more than 64 resources', () => {
    const r = report()
    assert.deepEqual(Object.keys(r.values).sort(), QUANTITIES.map(q => q.key).sort())
    for (const v of Object.values(r.values)) assert.ok(Number.isSafeInteger(v))
    assert.ok(encodeReport(r).length < MAX_REPORT_BYTES)
  })
})
