import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { ENCODING_ONLY, deviationArb, encodeVariant } from './cbor-variants.js'
import { assertSameBytes, cidArb, plain } from './helpers.js'
import { fuzzParams } from './settings.js'

/** Values DAG-CBOR can hold, as @ipld/dag-cbor decodes them: safe integers, finite floats, strings, bytes, CIDs. */
const dagValue = fc.letrec<{ value: unknown }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null), fc.boolean(), fc.maxSafeInteger(), fc.integer({ min: -1000, max: 1000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter(d => !Number.isInteger(d)),
    fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 8 }), fc.constantFrom('\uFFFD', 'a\uFFFDb'), fc.uint8Array({ maxLength: 40 }), cidArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 5 }).filter(d => !Object.hasOwn(d, '__proto__'))
  )
})).value

describe('fuzz tool: DAG-CBOR variant writer (test/fuzz/cbor-variants.ts)', () => {
  it('writes exactly the bytes @ipld/dag-cbor writes when no deviation is asked for', () => {
    fc.assert(fc.property(dagValue, value => {
      const canonical = dagCbor.encode(value)
      const { bytes, applied } = encodeVariant(value)
      assert.equal(applied, false)
      assertSameBytes(bytes, canonical, 'the variant writer differs from @ipld/dag-cbor')
    }), fuzzParams())
  })

  // What this shows of @ipld/dag-cbor 10 (its `strict` decoding): it refuses wide headers, indefinite lengths and
  // repeated map keys, but accepts an integer written as a float (of any width), invalid UTF-8 (read as U+FFFD)
  // and map keys out of the canonical order. A decoder that must be canonical (signed or content-addressed
  // bytes) has to refuse those three itself, for instance by re-encoding what it decoded and comparing.
  it('@ipld/dag-cbor refuses every other encoding of a value except integers written as floats, invalid UTF-8 and map keys out of order, which decoders must refuse themselves', () => {
    fc.assert(fc.property(dagValue, deviationArb.filter(d => ENCODING_ONLY.includes(d.kind)), (value, dev) => {
      const canonical = dagCbor.encode(value)
      const variant = encodeVariant(value, dev)
      if (!variant.applied) {
        assertSameBytes(variant.bytes, canonical, 'a deviation that did not apply changed the bytes')
        return
      }
      assert.notDeepEqual(variant.bytes, canonical, `${dev.kind} did not change the encoding`)
      let decoded: unknown
      try {
        decoded = dagCbor.decode(variant.bytes)
      } catch {
        return // refused: the library's strict decoding covers this deviation
      }
      // accepted: only these two deviations get through @ipld/dag-cbor, and they decode to the very same value
      assert.ok(['float16', 'float32', 'float64', 'invalidUtf8', 'swapKeys'].includes(dev.kind), `@ipld/dag-cbor accepted a ${dev.kind} variant`)
      assert.deepStrictEqual(plain(decoded), plain(value))
    }), fuzzParams())
  })
})
