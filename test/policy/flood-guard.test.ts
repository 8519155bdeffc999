import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FloodGuard, type StrikeReason } from '../../src/policy/flood-guard.js'

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
})
