import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FrameLoan, FramePool } from '../../../src/sync/exchange/frame-pool.js'
import { encodeFrame, readFrames } from '../../../src/sync/exchange/framing.js'

describe('frame buffers used again', () => {
  it('lends buffers for frames of its range, takes them back wiped, and keeps at most maxFree', () => {
    const pool = new FramePool(1000, 100, 2)
    const small = pool.take(99)
    const large = pool.take(1001)
    assert.equal(small.length, 99)
    assert.equal(large.length, 1001)
    assert.ok(!pool.owns(small) && !pool.owns(large), 'frames outside its range get buffers of their own')
    pool.release(small) // not its own: ignored
    assert.equal(pool.idle, 0)

    const a = pool.take(500)
    assert.equal(a.length, 500)
    assert.equal(a.buffer.byteLength, 1000)
    assert.ok(pool.owns(a))
    a.fill(7)
    const view = a.subarray(10, 20)
    const tail = a.subarray(490)
    pool.release(a)
    assert.ok(!pool.owns(a))
    assert.equal(pool.idle, 1)
    assert.deepEqual(view, new Uint8Array(10), 'a view kept after the release reads zeros')
    assert.deepEqual(tail, new Uint8Array(10), 'to the last byte lent')
    pool.release(a) // twice: nothing more comes back
    assert.equal(pool.idle, 1)

    const b = pool.take(800)
    assert.equal(b.buffer, a.buffer, 'the buffer given back is lent again')
    assert.equal(pool.idle, 0)
    const [c, d, e] = [pool.take(100), pool.take(1000), pool.take(300)]
    for (const f of [b, c, d, e]) pool.release(f)
    assert.equal(pool.idle, 2, 'no more than maxFree are kept')
  })

  it('a loan goes back once the lender and every holder have let go, each of them once', () => {
    const pool = new FramePool(1000, 100, 4)
    const frame = pool.take(600)
    const loan = new FrameLoan(pool, frame)
    const first = loan.hold()
    const second = loan.hold()
    loan.end()
    loan.end()
    first()
    first()
    assert.ok(pool.owns(frame), 'one holder still uses it')
    second()
    assert.ok(!pool.owns(frame))
    assert.equal(pool.idle, 1)
  })

  it('readFrames reads frames of the pool\'s range into its buffers, whole and in order', async () => {
    const pool = new FramePool(4096, 256, 4)
    const payloads = [10, 300, 4096, 5000, 1000].map((n, i) => new Uint8Array(n).fill(i + 1))
    const stream = payloads.map(encodeFrame)
    // cut into uneven pieces, as a stream delivers them
    const joined = new Uint8Array(stream.reduce((n, f) => n + f.length, 0))
    let at = 0
    for (const f of stream) { joined.set(f, at); at += f.length }
    const pieces: Uint8Array[] = []
    for (let i = 0; i < joined.length; i += 777) pieces.push(joined.subarray(i, i + 777))
    const frames: Uint8Array[] = []
    const owned: boolean[] = []
    for await (const frame of readFrames(pieces, 8192, undefined, pool)) {
      frames.push(frame.slice())
      owned.push(pool.owns(frame))
      pool.release(frame)
    }
    assert.deepEqual(frames, payloads)
    assert.deepEqual(owned, [false, true, true, false, true])
  })
})
