import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseRate, TokenBucket } from '../../../src/policy/fairness/token-bucket.js'
import { FakeClock, settle } from '../../helpers/fake-clock.js'

/** Whether `p` has settled (after every promise chain that can run has). */
async function settled (p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  await settle()
  return done
}

describe('upload limit', () => {
  it('parses rates the way people write them', () => {
    assert.equal(parseRate('10MB/s'), 10e6)
    assert.equal(parseRate('512KiB/s'), 512 * 1024)
    assert.equal(parseRate('2 mb'), 2e6)
    assert.equal(parseRate('1000'), 1000)
    for (const bad of ['fast', '10XB/s', '', '-5MB/s']) assert.throws(() => parseRate(bad), RangeError, bad)
  })

  it('lets a burst through at once and holds the rest to the rate', async () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket(10_000, 10_000, { clock })
    // the burst: no time passes, and no timer is set
    assert.ok(await settled(bucket.take(10_000)), 'a full bucket lets its burst through at once')
    assert.equal(clock.pending, 0)
    // 5 kB more at 10 kB/s: 500 ms, not one sooner
    const more = bucket.take(5_000)
    assert.equal(await settled(more), false, 'an empty bucket holds the next bytes')
    clock.advance(499)
    assert.equal(await settled(more), false, '5 kB at 10 kB/s let through after 499 ms')
    clock.advance(1)
    assert.ok(await settled(more), '5 kB at 10 kB/s still held after 500 ms')
    // an aborted wait rejects, and leaves no timer behind
    const controller = new AbortController()
    const pending = bucket.take(50_000, controller.signal)
    assert.equal(await settled(pending), false)
    assert.equal(clock.pending, 1)
    controller.abort()
    await assert.rejects(pending, { name: 'AbortError' })
    assert.equal(clock.pending, 0)
  })

  it('serves callers in order, lets a message larger than the burst through once the bucket is full, and saves up no more than the burst', async () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket(1_000, 1_000, { clock })
    const order: string[] = []
    const big = bucket.take(3_000).then(() => order.push('big'))
    const small = bucket.take(1).then(() => order.push('small'))
    // the bucket is full: the big message goes at once (it could never wait for 3 kB in a 1 kB bucket)
    assert.ok(await settled(big))
    // and leaves a 2 kB debt: the small one behind it waits 2 s and 1 ms for its byte
    assert.equal(await settled(small), false)
    clock.advance(2000)
    assert.equal(await settled(small), false, 'the debt of the big message was not paid')
    await clock.run(small)
    assert.deepEqual(order, ['big', 'small'])
    assert.equal(clock.now(), 10_000 + 2001)
    // a minute idle fills the bucket to its burst, and no further
    clock.advance(60_000)
    assert.ok(await settled(bucket.take(1_000)))
    const after = bucket.take(1)
    assert.equal(await settled(after), false, 'an idle bucket saved more than its burst')
    clock.advance(1)
    assert.ok(await settled(after))
  })
})
