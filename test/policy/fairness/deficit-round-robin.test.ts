import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DeficitRoundRobin, Fifo } from '../../../src/policy/fairness/deficit-round-robin.js'

/** Serve `rounds` messages from always-backlogged flows; bytes sent per flow. */
function serve (weights: number[], sizes: number[], rounds: number, quantum = 1000): number[] {
  const drr = new DeficitRoundRobin<Fifo<number>>(quantum)
  weights.forEach((w, i) => {
    const q = drr.flow(`f${i}`, () => new Fifo<number>())
    for (let k = 0; k < rounds; k++) q.push(sizes[i]!)
    drr.setWeight(`f${i}`, w)
  })
  const sent = weights.map(() => 0)
  for (let r = 0; r < rounds; r++) {
    const k = drr.next()!
    const bytes = drr.get(k)!.shift()!
    drr.charge(k, bytes)
    sent[Number(k.slice(1))]! += bytes
  }
  return sent
}

describe('deficit round robin', () => {
  it('gives backlogged flows bytes in proportion to their weights, whatever their message sizes', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ w: fc.integer({ min: 1, max: 4 }), size: fc.integer({ min: 100, max: 3000 }) }), { minLength: 2, maxLength: 6 }),
      flows => {
        const sent = serve(flows.map(f => f.w), flows.map(f => f.size), 3000)
        const perWeight = sent.map((s, i) => s / flows[i]!.w)
        const max = Math.max(...perWeight)
        const min = Math.min(...perWeight)
        // the gap is bounded by a quantum plus one message per flow, small against 3000 messages' bytes
        const bound = (1000 + 3000) * 2
        assert.ok(max - min <= bound, `per-weight bytes ${perWeight.map(Math.round).join(', ')}`)
      }
    ), { numRuns: 60 })
  })

  it('skips flows a caller refuses, and serves nothing when every flow is refused or idle', () => {
    const drr = new DeficitRoundRobin<Fifo<number>>(1000)
    drr.flow('a', () => new Fifo<number>()).push(10)
    drr.flow('b', () => new Fifo<number>()).push(10)
    assert.equal(drr.next(k => k !== 'a'), 'b')
    assert.equal(drr.next(() => false), undefined)
    drr.get('a')!.shift()
    drr.get('b')!.shift()
    assert.equal(drr.next(), undefined)
    assert.equal(drr.size, 0)
    // a forgotten flow is gone from the ring; the others go on
    drr.get('a')!.push(1)
    drr.get('b')!.push(1)
    drr.delete('a')
    assert.equal(drr.count, 1)
    assert.equal(drr.next(), 'b')
    assert.deepEqual([...drr.keys()], ['b'])
  })

  it('lets no idle flow save credit for later', () => {
    const drr = new DeficitRoundRobin<Fifo<number>>(1000)
    const a = drr.flow('a', () => new Fifo<number>())
    const b = drr.flow('b', () => new Fifo<number>())
    for (let i = 0; i < 50; i++) a.push(500)
    // a sends alone for a while; b then arrives and must not be starved by a's past nor get a backlog of credit
    for (let i = 0; i < 20; i++) { const k = drr.next()!; drr.charge(k, drr.get(k)!.shift()!) }
    for (let i = 0; i < 20; i++) b.push(500)
    const order: string[] = []
    for (let i = 0; i < 20; i++) { const k = drr.next()!; drr.charge(k, drr.get(k)!.shift()!); order.push(k) }
    assert.equal(order.filter(k => k === 'b').length, 10)
  })
})
