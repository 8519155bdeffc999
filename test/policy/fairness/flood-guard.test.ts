import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_GUARDED_PEERS } from '../../../src/policy/fairness/constants.js'
import { FloodGuard, type StrikeReason } from '../../../src/policy/fairness/flood-guard.js'

describe('flood guard', () => {
  it('strikes a peer that keeps more requests waiting than allowed, throttles it, then lets it recover', () => {
    let now = 0
    const strikes: Array<[string, StrikeReason]> = []
    const g = new FloodGuard({ maxPendingRequests: 3, throttleMs: 1000 }, (p, r) => strikes.push([p, r]), () => now)
    for (let i = 0; i < 3; i++) g.request('a', [`k${i}`])
    assert.equal(strikes.length, 0)
    assert.equal(g.factor('a'), 1)
    g.request('a', ['k9'])
    assert.deepEqual(strikes, [['a', 'flood']])
    assert.ok(g.throttled('a'))
    assert.equal(g.factor('a'), 0.25)
    assert.equal(g.factor('b'), 1, 'others are not touched')
    for (let i = 0; i < 4; i++) g.done('a')
    now += 1001
    assert.ok(!g.throttled('a'))
    g.request('a', ['k10'])
    assert.equal(g.strikes('a'), 1)
  })

  it('strikes a peer that asks again for most of what it was just sent, but not after it cancelled', () => {
    let now = 0
    const strikes: StrikeReason[] = []
    const g = new FloodGuard({ duplicateWindowMs: 10_000 }, (_p, r) => strikes.push(r), () => now)
    g.sent('a', ['x', 'y', 'z'])
    g.request('a', ['x', 'q', 'r', 's']) // one block again of four: a lost answer, not a flood
    assert.deepEqual(strikes, [])
    g.request('a', ['x', 'y', 'z'])
    assert.deepEqual(strikes, ['duplicate'])
    g.sent('b', ['x', 'y'])
    g.cancelled('b', ['x', 'y'])
    g.request('b', ['x', 'y'])
    assert.deepEqual(strikes, ['duplicate'])
    now += 20_000
    g.request('a', ['x', 'y', 'z'])
    assert.deepEqual(strikes, ['duplicate'], 'long after, asking again is honest')
  })

  it('keeps records of a bounded number of peers, however many identities come and go', () => {
    const now = 0
    const g = new FloodGuard({ maxPendingRequests: 2, throttleMs: 1000 }, () => {}, () => now)
    g.request('busy', ['k'])
    g.request('flooder', ['a', 'b'])
    g.request('flooder', ['c'])
    g.request('flooder', ['d']) // struck and throttled
    for (let i = 0; i < MAX_GUARDED_PEERS * 3; i++) {
      g.sent(`sybil-${i}`, ['x', 'y'])
      g.request(`sybil-${i}`, ['z'])
      g.done(`sybil-${i}`)
    }
    assert.ok(g.size <= MAX_GUARDED_PEERS, `${g.size} records`)
    assert.ok(g.throttled('flooder'), 'a throttled peer is not forgotten while its throttle is in force')
    assert.equal(g.strikes('flooder'), 1)
    // the request `busy` has pending was remembered: two more make three waiting, one over its allowance
    g.request('busy', ['m'])
    g.request('busy', ['n'])
    assert.equal(g.strikes('busy'), 1)
  })
})
