import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { decodeHoldings, encodeHoldings, LeafSet, type HoldingsMessage } from '../../src/sync/exchange/holdings.js'
import { deviationArb, encodeVariant, HUGE_LENGTHS, type Deviation } from './cbor-variants.js'
import { arbitraryBytes, assertSameBytes, assertSmallAllocation, cidArb, decodeOrRefuse, mutatedFrom } from './helpers.js'
import { fuzzParams } from './settings.js'

/** decodeHoldings refuses only with ProtocolError. */
const CODES = ['ERR_PROTOCOL']

/** A leaf set: scattered leaves, or a few runs (what downloaders hold), over 1 to 3000 leaves. */
const leafSetArb: fc.Arbitrary<LeafSet> = fc.integer({ min: 1, max: 3000 }).chain(size => fc.oneof(
  fc.array(fc.nat({ max: size - 1 }), { maxLength: 200 }),
  fc.array(fc.tuple(fc.nat({ max: size - 1 }), fc.integer({ min: 1, max: 400 })), { maxLength: 6 })
    .map(runs => runs.flatMap(([start, length]) => Array.from({ length: Math.min(length, size - start) }, (_, k) => start + k)))
).map(indexes => {
  const set = new LeafSet(size)
  for (const i of indexes) set.add(i)
  return set
}))

const messageArb: fc.Arbitrary<HoldingsMessage> = fc.record({
  t: fc.constantFrom('holdings' as const, 'have' as const),
  root: cidArb,
  leaves: leafSetArb
}).map(m => {
  if (m.t === 'have' && m.leaves.count === 0) m.leaves.add(0)
  return m
})
const encodedArb = messageArb.map(m => encodeHoldings(m))

const indexes = (set: LeafSet): number[] => [...set.runs()].flatMap(([s, l]) => Array.from({ length: l }, (_, k) => s + k))

/** If decodeHoldings accepted `bytes`, they are the one encoding of what it returned. */
function assertCanonical (bytes: Uint8Array, decoded: HoldingsMessage): void {
  assertSameBytes(encodeHoldings(decoded), bytes, 'decodeHoldings accepted bytes that are not the encoding of the message it returned')
}

describe('fuzz: holdings messages (src/sync/exchange/holdings.ts decodeHoldings)', () => {
  it('decodes every encoded message back to the same message', () => {
    fc.assert(fc.property(messageArb, m => {
      const decoded = decodeHoldings(encodeHoldings(m))
      assert.equal(decoded.t, m.t)
      assert.ok(decoded.root.equals(m.root))
      assert.equal(decoded.leaves.size, m.leaves.size)
      assert.equal(decoded.leaves.count, m.leaves.count)
      assert.deepEqual(indexes(decoded.leaves), indexes(m.leaves))
    }), fuzzParams())
  })

  it('refuses arbitrary bytes with ProtocolError, and accepts only the canonical encoding of a message', () => {
    fc.assert(fc.property(arbitraryBytes, bytes => {
      const r = decodeOrRefuse(() => decodeHoldings(bytes), CODES, 'decodeHoldings')
      if (r.ok) assertCanonical(bytes, r.value)
    }), fuzzParams())
  })

  it('refuses a valid message with bytes flipped, inserted or deleted with ProtocolError, unless the result is itself a canonical message', () => {
    fc.assert(fc.property(mutatedFrom(encodedArb), ({ bytes }) => {
      const r = decodeOrRefuse(() => decodeHoldings(bytes), CODES, 'decodeHoldings')
      if (r.ok) assertCanonical(bytes, r.value)
    }), fuzzParams())
  })

  it('refuses every non-canonical or mis-typed re-encoding of a valid message', () => {
    fc.assert(fc.property(encodedArb, deviationArb, (encoded, dev) => {
      const variant = encodeVariant(dagCbor.decode(encoded), dev)
      const r = decodeOrRefuse(() => decodeHoldings(variant.bytes), CODES, 'decodeHoldings')
      if (r.ok) assertCanonical(variant.bytes, r.value)
      else assert.ok(variant.applied, 'the canonical encoding of a valid message was refused')
    }), fuzzParams<[Uint8Array, Deviation]>())
  })

  it('refuses a length header declaring up to 2^64 bytes at once, without allocating what it declares', () => {
    fc.assert(fc.property(encodedArb, fc.nat(), fc.nat({ max: HUGE_LENGTHS.length - 1 }), (encoded, at, alt) => {
      const variant = encodeVariant(dagCbor.decode(encoded), { kind: 'hugeLength', at, alt })
      const r = assertSmallAllocation(
        () => decodeOrRefuse(() => decodeHoldings(variant.bytes), CODES, 'decodeHoldings'),
        16 * 1024 * 1024,
        'decodeHoldings of a huge declared length'
      )
      assert.equal(r.ok, !variant.applied, variant.applied ? 'a truncated message with a huge length header was accepted' : 'a valid message was refused')
    }), fuzzParams())
  })

  it('refuses run data that is not the canonical runs of a set inside the DAG', () => {
    fc.assert(fc.property(cidArb, fc.integer({ min: 1, max: 64 }), fc.uint8Array({ maxLength: 12 }), (root, leaves, data) => {
      const bytes = dagCbor.encode({ t: 'holdings', root, leaves, enc: 'runs', data })
      const r = decodeOrRefuse(() => decodeHoldings(bytes), CODES, 'decodeHoldings')
      if (r.ok) assertCanonical(bytes, r.value)
    }), fuzzParams())
  })
})
