import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { cidOf } from '../../src/dag/cid.js'
import { getHasher } from '../../src/dag/hashing.js'
import { MAX_ENTRIES, MAX_MESSAGE_BYTES } from '../../src/sync/constants.js'
import { decodeMessage, encodeMessage, type Message } from '../../src/sync/wire.js'
import { pseudoRandom } from '../helpers/temp.js'

describe('block exchange wire format', () => {
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
