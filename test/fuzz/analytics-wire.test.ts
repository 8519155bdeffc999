import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { MAX_POPULARITY_ENTRIES, MAX_REPORT_BYTES, QUANTITIES } from '../../src/analytics/constants.js'
import { PERIOD_NAMES, periodStart } from '../../src/analytics/period.js'
import { decodeReport, encodeReport, type AnalyticsReport } from '../../src/analytics/wire.js'
import { deviationArb, encodeVariant } from './cbor-variants.js'
import { arbitraryBytes, assertSameBytes, cidArb, decodeOrRefuse, mutatedFrom, plain } from './helpers.js'
import { fuzzParams } from './settings.js'

const CODES = ['ERR_INVALID_REPORT']

const scaleArb = fc.double({ min: 1e-6, max: 1e9, noNaN: true })
const valueArb = fc.integer({ min: -1e12, max: 1e12 })
const rootsArb = fc.uniqueArray(cidArb.filter(c => c.version === 1).map(c => c.toString()), { maxLength: 6 }).map(r => r.sort())

const reportArb: fc.Arbitrary<AnalyticsReport> = fc.record({
  id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  period: fc.constantFrom(...PERIOD_NAMES),
  t: fc.integer({ min: 14 * 86_400_000, max: 4e12 }),
  epsilon: fc.double({ min: 1e-6, max: 100, noNaN: true }),
  values: fc.tuple(...QUANTITIES.map(() => valueArb)),
  scales: fc.tuple(...QUANTITIES.map(() => scaleArb)),
  roots: rootsArb,
  hits: fc.array(valueArb, { minLength: MAX_POPULARITY_ENTRIES, maxLength: MAX_POPULARITY_ENTRIES }),
  popularScale: scaleArb
}).map(r => ({
  v: 1 as const,
  id: r.id,
  period: r.period,
  start: periodStart(r.period, r.t),
  epsilon: r.epsilon,
  values: Object.fromEntries(QUANTITIES.map((q, i) => [q.key, r.values[i]!])),
  scales: Object.fromEntries(QUANTITIES.map((q, i) => [q.key, r.scales[i]!])),
  popular: r.roots.map((root, i): [string, number] => [root, r.hits[i]!]),
  popularScale: r.popularScale
}))
const encodedArb = reportArb.map(encodeReport)

function assertCanonical (bytes: Uint8Array, report: AnalyticsReport): void {
  assertSameBytes(encodeReport(report), bytes, 'decodeReport accepted bytes that are not the encoding of the report it returned')
}

describe('fuzz: analytics reports (src/analytics/wire.ts decodeReport)', () => {
  it('decodes every encoded report back to the same report', () => {
    fc.assert(fc.property(reportArb, r => {
      const bytes = encodeReport(r)
      assert.ok(bytes.length <= MAX_REPORT_BYTES)
      assert.deepStrictEqual(plain(decodeReport(bytes)), plain(r))
    }), fuzzParams())
  })

  it('refuses arbitrary bytes with InvalidReportError', () => {
    fc.assert(fc.property(arbitraryBytes, bytes => {
      const r = decodeOrRefuse(() => decodeReport(bytes), CODES, 'decodeReport')
      if (r.ok) assertCanonical(bytes, r.value)
    }), fuzzParams())
  })

  it('refuses a valid report with bytes flipped, inserted or deleted with InvalidReportError, unless the result is a canonical report', () => {
    fc.assert(fc.property(mutatedFrom(encodedArb), ({ bytes }) => {
      const r = decodeOrRefuse(() => decodeReport(bytes), CODES, 'decodeReport')
      if (r.ok) assertCanonical(bytes, r.value)
    }), fuzzParams())
  })

  it('refuses every other encoding and every mis-typed, missing or extra field of a report with InvalidReportError', () => {
    fc.assert(fc.property(encodedArb, deviationArb, (encoded, dev) => {
      const variant = encodeVariant(dagCbor.decode(encoded), dev)
      const r = decodeOrRefuse(() => decodeReport(variant.bytes), CODES, 'decodeReport')
      if (r.ok) assertCanonical(variant.bytes, r.value)
      else assert.ok(variant.applied, 'the canonical encoding of a valid report was refused')
    }), fuzzParams())
  })
})
