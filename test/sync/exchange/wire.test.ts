import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { cidOf } from '../../../src/dag/cid.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { MAX_ENTRIES, MAX_MESSAGE_BYTES } from '../../../src/sync/exchange/constants.js'
import { encodeFrame, readFrames } from '../../../src/sync/exchange/framing.js'
import { decodeMessage, encodeMessage, type Message } from '../../../src/sync/exchange/wire.js'
import { pseudoRandom } from '../../helpers/temp.js'

describe('block exchange wire format', () => {
  it('reassembles length-prefixed frames however the bytes are split (property)', async () => {
    const framesArb = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 })
    await fc.assert(fc.asyncProperty(framesArb, fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }), async (frames, cuts) => {
      const wire = Buffer.concat(frames.map(f => encodeFrame(f)))
      const pieces: Uint8Array[] = []
      for (let pos = 0, i = 0; pos < wire.length; i++) {
        const n = cuts[i % cuts.length]!
        pieces.push(wire.subarray(pos, pos + n))
        pos += n
      }
      const out: Uint8Array[] = []
      for await (const f of readFrames((async function * () { yield * pieces })(), 1000)) out.push(f)
      assert.deepEqual(out.map(f => Buffer.from(f).toString('hex')), frames.map(f => Buffer.from(f).toString('hex')))
    }), { numRuns: 200 })
    const big = encodeFrame(new Uint8Array(2000))
    await assert.rejects((async () => { for await (const f of readFrames([big.subarray(0, 3)], 1000)) void f })(), { code: 'ERR_PROTOCOL' })
    await assert.rejects((async () => { for await (const f of readFrames([encodeFrame(new Uint8Array(10)).subarray(0, 5)], 1000)) void f })(), { code: 'ERR_PROTOCOL' })
    await assert.rejects((async () => {
      for await (const f of readFrames([Uint8Array.of(
        0x80,
        0x80,
        0x80,
        0x80,
        0x80,
        0x01
      )], 1000)) void f
    })(), { code: 'ERR_PROTOCOL' })
  })

  it('round-trips every message type', async () => {
    const h = await getHasher('blake3')
    const bytes = pseudoRandom(3000, 1)
    const cid = cidOf(h, 0x55, bytes)
    const messages: Message[] = [
      { t: 'want', cids: [cid, cid], blocks: true },
      { t: 'want', cids: [cid], blocks: false },
      { t: 'cancel', cids: [cid] },
      { t: 'have', cids: [cid] },
      { t: 'dont-have', cids: [cid] },
      { t: 'blocks', blocks: [{ cid, bytes }] }
    ]
    for (const m of messages) {
      const back = decodeMessage(encodeMessage(m))
      assert.equal(back.t, m.t)
      assert.equal(dagCbor.encode(back as never).length > 0, true)
      assert.deepEqual(encodeMessage(back), encodeMessage(m))
    }
  })

  it('rejects messages outside the protocol with ERR_PROTOCOL', async () => {
    const h = await getHasher('blake3')
    const cid = cidOf(h, 0x55, new Uint8Array(1))
    const bad: unknown[] = [
      null, 42, [], { t: 'want', cids: [cid] }, { t: 'want', cids: [cid], blocks: 1 }, { t: 'want', cids: [], blocks: true },
      { t: 'have', cids: ['not a cid'] }, { t: 'have', cids: [cid], extra: 1 }, { t: 'blocks', blocks: [[cid]] },
      { t: 'blocks', blocks: [[cid, 'text']] }, { t: 'nope', cids: [cid] }, { t: 'have', cids: Array(MAX_ENTRIES + 1).fill(cid) },
      { t: 'blocks', blocks: [[cid, new Uint8Array(1024 * 1024 + 1)]] }
    ]
    for (const value of bad) assert.throws(() => decodeMessage(dagCbor.encode(value as never)), { code: 'ERR_PROTOCOL' }, JSON.stringify(value, (_k, v) => v instanceof Uint8Array ? `<${v.length} bytes>` : v))
    assert.throws(() => decodeMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1)), { code: 'ERR_PROTOCOL' })
    // non-canonical CBOR: map keys out of order
    assert.throws(() => decodeMessage(Uint8Array.of(0xa2, 0x61, 0x74, 0x61, 0x78, 0x61, 0x61, 0x01)), { code: 'ERR_PROTOCOL' })
  })

  it('never throws anything but ERR_PROTOCOL on arbitrary bytes (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), bytes => {
      try {
        decodeMessage(bytes)
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'ERR_PROTOCOL')
      }
    }), { numRuns: 2000 })
  })
})
