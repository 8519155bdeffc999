import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { owners, type Member } from '../../../src/policy/cache/rendezvous.js'

const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `http://mirror.example/pool/pkg-${i}.deb`)

describe('capacity-weighted ownership (rendezvous hashing)', () => {
  it('gives each member a share of the URLs in proportion to its free capacity', () => {
    const members: Member[] = [{ id: 'a', weight: 1e9 }, { id: 'b', weight: 2e9 }, { id: 'c', weight: 4e9 }, { id: 'd', weight: 1e9 }]
    const total = members.reduce((s, m) => s + m.weight, 0)
    const counts = new Map<string, number>()
    const n = 40_000
    for (const k of keys(n)) {
      const [first] = owners(k, members, 1)
      counts.set(first!, (counts.get(first!) ?? 0) + 1)
    }
    for (const m of members) {
      const share = (counts.get(m.id) ?? 0) / n
      // the hash is fixed, so this is deterministic; 40,000 keys put the share within 1.5 points of the weight
      assert.ok(Math.abs(share - m.weight / total) < 0.015, `${m.id}: ${share.toFixed(3)} of URLs for ${(m.weight / total).toFixed(3)} of capacity`)
    }
  })

  it('holds more unique content than members caching alone: k distinct owners per URL', () => {
    const members: Member[] = Array.from({ length: 20 }, (_, i) => ({ id: `node-${i}`, weight: (i % 4 + 1) * 1e8 }))
    for (const k of keys(500)) {
      const o = owners(k, members, 2)
      assert.equal(o.length, 2)
      assert.notEqual(o[0], o[1])
    }
  })

  it('moves only the URLs of a member that leaves, and is independent of member order', () => {
    const idsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 12 })
    fc.assert(fc.property(idsArb, fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 12, maxLength: 12 }), (ids, weights) => {
      const members = ids.map((id, i) => ({ id, weight: weights[i]! }))
      const gone = members[0]!.id
      const rest = members.slice(1)
      for (const k of keys(60)) {
        const before = owners(k, members, 1)[0]
        assert.equal(owners(k, [...members].reverse(), 1)[0], before)
        if (before !== gone) assert.equal(owners(k, rest, 1)[0], before)
      }
    }), { numRuns: 50 })
  })

  it('never picks a member without capacity while others have some', () => {
    const members: Member[] = [{ id: 'full', weight: 0 }, { id: 'a', weight: 10 }, { id: 'b', weight: 10 }]
    for (const k of keys(300)) assert.notEqual(owners(k, members, 2).indexOf('full'), 0)
    for (const k of keys(300)) assert.deepEqual(owners(k, members, 3).slice(2), ['full'])
  })
})
