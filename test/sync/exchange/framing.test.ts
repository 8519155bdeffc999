import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeFrame, sendFrame } from '../../../src/sync/exchange/framing.js'

describe('sending a frame', () => {
  it('hands the stream prefix and payload in one send, the payload not copied', async () => {
    const sent: Array<Uint8Array | Uint8ArrayList> = []
    // a stream that takes every write at once (nothing buffered: sendFrame never waits for a drain)
    const stream = {
      writeBufferLength: 0,
      send: (data: Uint8Array | Uint8ArrayList) => { sent.push(data); return true },
      addEventListener: () => {},
      removeEventListener: () => {}
    }
    const payload = new Uint8Array(300_000).fill(5)
    await sendFrame(stream, payload)
    // one send is one muxer data frame, which the reader answers with one window update: a prefix sent apart cost two
    assert.equal(sent.length, 1)
    const list = sent[0]!
    assert.ok(list instanceof Uint8ArrayList)
    assert.deepEqual(list.subarray(), encodeFrame(payload))
    assert.equal(list.get(list.byteLength - 1), 5)
    assert.ok([...list].some(part => part === payload), 'the payload itself, not a copy of it')
  })
})
