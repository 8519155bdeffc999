import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { GdsfPolicy, type EvictionItem } from '../../../src/policy/cache/eviction.js'
import { Popularity } from '../../../src/policy/cache/popularity.js'

const item = (key: string, size: number, popularity: number, extra: Partial<EvictionItem> = {}): EvictionItem =>
  ({ key, size, popularity, owned: true, protected: false, base: 0, ...extra })

describe('eviction order (GDSF with community popularity)', () => {
  it('evicts the least popular per byte first', () => {
    const policy = new GdsfPolicy({ requestCost: 0 })
    const items = [item('popular', 1000, 50), item('rare', 1000, 1), item('middling', 1000, 10)]
    assert.deepEqual(policy.victims(items, 1000).map(i => i.key), ['rare'])
    assert.deepEqual(policy.victims(items, 2000).map(i => i.key), ['rare', 'middling'])
  })

  it('weighs by size: a large object must be requested more often to stay', () => {
    const policy = new GdsfPolicy({ requestCost: 4096 })
    const items = [item('big', 10_000_000, 5), item('small', 10_000, 5)]
    assert.deepEqual(policy.victims(items, 1).map(i => i.key), ['big'])
  })

  it('evicts what other members own before what this node owns', () => {
    const policy = new GdsfPolicy()
    const items = [item('mine', 1000, 4), item('theirs', 1000, 8, { owned: false })]
    assert.deepEqual(policy.victims(items, 1000).map(i => i.key), ['theirs'])
  })

  it('never evicts pinned or collection content, whatever it takes', () => {
    fc.assert(fc.property(fc.array(fc.record({
      size: fc.integer({ min: 1, max: 1e6 }),
      popularity: fc.double({ min: 0, max: 100, noNaN: true }),
      owned: fc.boolean(),
      protected: fc.boolean()
    }), { maxLength: 40 }), fc.integer({ min: 0, max: 5e7 }), (specs, need) => {
      const items = specs.map((s, i) => item(`k${i}`, s.size, s.popularity, { owned: s.owned, protected: s.protected }))
      const out = new GdsfPolicy().victims(items, need)
      assert.ok(out.every(v => !v.protected))
      const freed = out.reduce((s, v) => s + v.size, 0)
      const evictable = items.filter(i => !i.protected).reduce((s, v) => s + v.size, 0)
      assert.ok(freed >= Math.min(need, evictable))
      // nothing more than needed: without the last victim, too little would be free
      if (out.length > 0) assert.ok(freed - out[out.length - 1]!.size < need)
    }))
  })

  it('ages: an item last requested before the inflation rose goes before a newer one', () => {
    const policy = new GdsfPolicy({ requestCost: 0 })
    policy.victims([item('x', 100, 20)], 100) // evicting raises L to 20
    assert.equal(policy.inflation, 20)
    const items = [item('old-popular', 100, 10, { base: 0 }), item('new-rare', 100, 2, { base: policy.inflation })]
    assert.deepEqual(policy.victims(items, 100).map(i => i.key), ['old-popular'])
  })
})

describe('community popularity', () => {
  it('decays counts and sums members\' reports', () => {
    let now = 0
    const p = new Popularity(1000, () => now)
    p.record('u')
    p.record('u')
    assert.equal(p.count('u'), 2)
    now = 1000
    assert.equal(p.count('u'), 1, 'halved after one half-life')
    p.merge('peer-1', 1000, [['u', 3], ['v', 4]])
    assert.equal(p.count('u'), 4)
    p.merge('peer-1', 500, [['u', 100]]) // an older report does not replace a newer one
    assert.equal(p.count('u'), 4)
    now = 2000
    assert.equal(p.count('v'), 2)
    p.forget('peer-1')
    assert.equal(p.count('v'), 0)
    assert.deepEqual(p.top(1).map(([k]) => k), ['u'])
  })
})
