import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AimdRate } from '../../../src/policy/fairness/congestion.js'

/** Feed `n` samples 20 ms apart from `t0`, `bytes` each, with delays from `delay(i)`. */
function feed (c: AimdRate, t0: number, n: number, bytes: (i: number) => number, delay: (i: number) => number): number {
  let t = t0
  for (let i = 0; i < n; i++) {
    t += 20
    c.sample({ at: t, bytes: bytes(i), delayMs: delay(i) })
  }
  return t
}

describe('congestion control (AIMD)', () => {
  it('lowers the rate when queueing delay rises and throughput falls, then climbs back to the ceiling', () => {
    const c = new AimdRate({ ceiling: 10e6, targetDelayMs: 100, minRate: 100e3 })
    assert.equal(c.rate, 10e6)
    // a clear path: 200 kB every 20 ms (10 MB/s), 5 ms delay
    let t = feed(c, 0, 100, () => 200e3, () => 5)
    assert.equal(c.rate, 10e6)
    assert.equal(c.decreases, 0)
    // congestion: delay grows to 800 ms while throughput halves
    t = feed(c, t, 100, () => 100e3, i => 5 + i * 8)
    assert.ok(c.decreases >= 1)
    const low = c.rate!
    assert.ok(low < 10e6 * 0.75, `rate ${low}`)
    assert.ok(low >= 100e3)
    // the queue drains: delay back to the floor, rate climbs additively up to the ceiling
    t = feed(c, t, 2000, () => 200e3, () => 5)
    assert.equal(c.rate, 10e6)
    void t
  })

  it('never goes below its minimum, and without a ceiling lifts its limit once recovered', () => {
    const c = new AimdRate({ targetDelayMs: 50, minRate: 500e3 })
    assert.equal(c.rate, undefined)
    let t = feed(c, 0, 50, () => 100e3, () => 1)
    t = feed(c, t, 1000, i => Math.max(1e3, 100e3 - i * 100), i => 1 + i * 10)
    assert.ok(c.decreases >= 2)
    assert.ok(c.rate !== undefined && c.rate >= 500e3, `rate ${c.rate}`)
    feed(c, t, 5000, () => 100e3, () => 1)
    assert.equal(c.rate, undefined)
  })

  it('keeps its rate when only the delay rises: a busy receiver at full throughput is not a congested link', () => {
    const c = new AimdRate({ ceiling: 10e6, targetDelayMs: 100, minRate: 100e3 })
    let t = feed(c, 0, 100, () => 200e3, () => 5)
    t = feed(c, t, 200, () => 200e3, i => 5 + i * 8)
    assert.equal(c.decreases, 0)
    assert.equal(c.rate, 10e6)
    void t
  })
})
