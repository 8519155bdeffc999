import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cidOf } from '../../../src/dag/cid.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { HoldingsTable, LeafSet, type HoldingsMessage } from '../../../src/sync/exchange/index.js'
import { pseudoRandom } from '../../helpers/temp.js'

const h = await getHasher('blake3')
const rootA = cidOf(h, 0x55, pseudoRandom(100, 1))
const rootB = cidOf(h, 0x55, pseudoRandom(100, 2))

function msg (t: HoldingsMessage['t'], root: typeof rootA, size: number, leaves: number[]): HoldingsMessage {
  const set = new LeafSet(size)
  for (const i of leaves) set.add(i)
  return { t, root, leaves: set }
}

describe('holdings table: what our peers hold of the DAGs we fetch', () => {
  it('a summary replaces, a have adds, and holders are listed by leaf', () => {
    const t = new HoldingsTable()
    const a = rootA.toString()
    assert.equal(t.holds('p1', a, 0), undefined)
    assert.equal(t.receive('p1', msg('holdings', rootA, 100, [0, 1, 2])), true)
    assert.equal(t.receive('p2', msg('have', rootA, 100, [2, 50])), true)
    assert.deepEqual(t.holders(a, 2).sort(), ['p1', 'p2'])
    assert.deepEqual(t.holders(a, 50), ['p2'])
    t.receive('p1', msg('have', rootA, 100, [50]))
    assert.deepEqual(t.holders(a, 50).sort(), ['p1', 'p2'])
    t.receive('p1', msg('holdings', rootA, 100, [99]))
    assert.equal(t.holds('p1', a, 0), false)
    assert.equal(t.holds('p1', a, 99), true)
    assert.equal(t.holds('p1', rootB.toString(), 99), undefined)
    t.forget('p1')
    assert.equal(t.holds('p1', a, 99), undefined)
    assert.equal(t.size, 13) // p2's bitfield of 100 leaves
  })

  it('refuses holdings over another leaf count than the DAG has', () => {
    const t = new HoldingsTable()
    assert.throws(() => t.receive('p1', msg('holdings', rootA, 100, [1]), 99), { code: 'ERR_PROTOCOL' })
    t.receive('p1', msg('holdings', rootA, 100, [1]))
    assert.throws(() => t.receive('p1', msg('have', rootA, 101, [1])), { code: 'ERR_PROTOCOL' })
  })

  it('takes a denied claim away, and believes a peer no more on that root after three denials', () => {
    const t = new HoldingsTable({ maxDenials: 3 })
    const a = rootA.toString()
    t.receive('liar', msg('holdings', rootA, 10, [0, 1, 2, 3, 4]))
    t.receive('liar', msg('holdings', rootB, 10, [0]))
    assert.equal(t.denied('liar', a, 0), false)
    assert.equal(t.holds('liar', a, 0), false)
    assert.equal(t.denied('liar', a, 0), false) // no longer claimed: no second strike for it
    assert.equal(t.denied('liar', a, 1), false)
    assert.equal(t.denied('liar', a, 2), true)
    assert.equal(t.holds('liar', a, 3), undefined)
    assert.equal(t.receive('liar', msg('have', rootA, 10, [5])), false)
    assert.equal(t.holds('liar', a, 5), undefined)
    assert.equal(t.holds('liar', rootB.toString(), 0), true) // other roots keep their claims
    t.forget('liar')
    assert.equal(t.receive('liar', msg('have', rootA, 10, [5])), true)
  })

  it('keeps at most maxBytes of bitfields, dropping the entry told least recently', () => {
    const t = new HoldingsTable({ maxBytes: 300 })
    for (let p = 0; p < 5; p++) t.receive(`p${p}`, msg('holdings', rootA, 800, [p])) // 100 bytes each
    assert.ok(t.size <= 300)
    assert.equal(t.holds('p0', rootA.toString(), 0), undefined)
    assert.equal(t.holds('p1', rootA.toString(), 1), undefined)
    assert.equal(t.holds('p4', rootA.toString(), 4), true)
    // a have refreshes an entry: p2 stays, p3 goes next
    t.receive('p2', msg('have', rootA, 800, [7]))
    t.receive('p5', msg('holdings', rootA, 800, [5]))
    assert.equal(t.holds('p2', rootA.toString(), 7), true)
    assert.equal(t.holds('p3', rootA.toString(), 3), undefined)
  })
})
