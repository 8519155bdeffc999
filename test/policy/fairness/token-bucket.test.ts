import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseRate, TokenBucket } from '../../../src/policy/fairness/token-bucket.js'

describe('upload limit', () => {
  it('parses rates the way people write them', () => {
    assert.equal(parseRate('10MB/s'), 10e6)
    assert.equal(parseRate('512KiB/s'), 512 * 1024)
    assert.equal(parseRate('2 mb'), 2e6)
    assert.equal(parseRate('1000'), 1000)
    for (const bad of ['fast', '10XB/s', '', '-5MB/s']) assert.throws(() => parseRate(bad), RangeError, bad)
  })

  it('lets a burst through at once and holds the rest to the rate', async () => {
    const bucket = new TokenBucket(10_000, 10_000)
    const t0 = performance.now()
    await bucket.take(10_000)
    const burst = performance.now() - t0
    await bucket.take(5_000)
    const waited = performance.now() - t0
    // a lower bound only: a busy machine can make it slower, never faster
    assert.ok(waited >= 450, `5 kB more at 10 kB/s came after ${waited.toFixed(0)} ms`)
    assert.ok(burst < waited)
    const controller = new AbortController()
    const pending = bucket.take(50_000, controller.signal)
    controller.abort()
    await assert.rejects(pending, { name: 'AbortError' })
  })
})
