import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { cidOf } from '../../../src/dag/cid.js'
import { getHasher } from '../../../src/dag/hashing.js'
import {
  decodeHoldings,
  encodedLengths,
  encodeHoldings,
  LeafSet,
  MAX_HOLDINGS_LEAVES,
  MAX_HOLDINGS_MESSAGE_BYTES
} from '../../../src/sync/exchange/index.js'
import { leb128 } from '../../helpers/varint.js'
import { pseudoRandom } from '../../helpers/temp.js'

const root = cidOf(await getHasher('blake3'), 0x55, pseudoRandom(100, 7))

function setOf (size: number, indexes: Iterable<number>): LeafSet {
  const s = new LeafSet(size)
  for (const i of indexes) s.add(i)
  return s
}

const range = (start: number, end: number): number[] => Array.from({ length: end - start }, (_, k) => start + k)

/** A raw holdings message, as a peer might send it, whatever it claims. */
const raw = (fields: Record<string, unknown>): Uint8Array => dagCbor.encode({ t: 'holdings', root, leaves: 160, enc: 'runs', data: new Uint8Array(0), ...fields })

describe('holdings: who holds which leaves of a DAG', () => {
  it('a leaf set adds, counts, merges and lists its runs', () => {
    const s = setOf(20, [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19])
    assert.equal(s.count, 14)
    assert.equal(s.add(3), true)
    assert.equal(s.add(3), false)
    assert.equal(s.has(3), true)
    assert.equal(s.has(4), false)
    assert.equal(s.has(20), false)
    assert.deepEqual([...s.runs()], [[0, 4], [7, 10], [19, 1]])
    const t = setOf(20, [4, 5, 6, 18])
    assert.equal(s.addAll(t), 4)
    assert.deepEqual([...s.runs()], [[0, 17], [18, 2]])
    assert.throws(() => s.add(20), RangeError)
    assert.throws(() => s.addAll(new LeafSet(21)), RangeError)
    assert.throws(() => new LeafSet(0), RangeError)
    assert.throws(() => new LeafSet(MAX_HOLDINGS_LEAVES + 1), RangeError)
  })

  it('sends the shorter encoding: runs for a few stretches, a bitfield for scattered leaves (sizes measured)', () => {
    const size = 4096
    let seed = 1
    const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const cases: Array<[string, LeafSet]> = [
      ['empty', new LeafSet(size)],
      ['complete (a seeder)', setOf(size, range(0, size))],
      ['a third, from a random start', setOf(size, range(2900, size).concat(range(0, 270)))],
      ['scattered 1 %', setOf(size, range(0, size).filter(() => random() < 0.01))],
      ['scattered 50 %', setOf(size, range(0, size).filter(() => random() < 0.5))],
      ['scattered 99 %', setOf(size, range(0, size).filter(() => random() < 0.99))]
    ]
    const rows = cases.map(([name, set]) => ({ name, ...encodedLengths(set), message: encodeHoldings({ t: 'holdings', root, leaves: set }).length }))
    console.log(`holdings of ${size} leaves, encoded bytes:`)
    console.table(rows)
    for (const r of rows) assert.ok(r.message < Math.min(r.bits, r.runs) + 100, `${r.name}: a ${r.message}-byte message for ${r.bits} or ${r.runs} bytes of data`)
    const bySize = Object.fromEntries(rows.map(r => [r.name, r]))
    assert.ok(bySize['complete (a seeder)']!.runs <= 4)
    assert.ok(bySize['a third, from a random start']!.runs <= 8)
    assert.ok(bySize['scattered 50 %']!.bits < bySize['scattered 50 %']!.runs)
    for (const [, set] of cases) {
      const back = decodeHoldings(encodeHoldings({ t: 'holdings', root, leaves: set }))
      assert.deepEqual([...back.leaves.runs()], [...set.runs()])
    }
  })

  it('round-trips a have announcement of many leaves in one message', () => {
    const set = setOf(1000, [3, 4, 5, 600, 999])
    const m = decodeHoldings(encodeHoldings({ t: 'have', root, leaves: set }))
    assert.equal(m.t, 'have')
    assert.ok(m.root.equals(root))
    assert.deepEqual([...m.leaves.runs()], [[3, 3], [600, 1], [999, 1]])
    assert.throws(() => encodeHoldings({ t: 'have', root, leaves: new LeafSet(10) }), { code: 'ERR_PROTOCOL' })
  })

  it('refuses what breaks the format or claims past the DAG', () => {
    const refused = (bytes: Uint8Array, why: RegExp): void => { assert.throws(() => decodeHoldings(bytes), (err: Error & { code?: string }) => err.code === 'ERR_PROTOCOL' && why.test(err.message)) }
    refused(raw({ t: 'have' }), /at least one leaf/)
    refused(raw({ leaves: 0 }), /leaves must be/)
    refused(raw({ leaves: MAX_HOLDINGS_LEAVES + 1 }), /leaves must be/)
    refused(raw({ leaves: 1.5 }), /./)
    refused(raw({ enc: 'bits', data: Uint8Array.of(0xff) }), /takes 20 bytes/)
    refused(raw({ leaves: 12, enc: 'bits', data: Uint8Array.of(0xaa, 0xa1) }), /past the last leaf/)
    refused(raw({ data: Uint8Array.of(0, 2, 0, 2) }), /touch/)
    refused(raw({ data: Uint8Array.of(3, 0) }), /empty run/)
    refused(raw({ data: Uint8Array.of(100, 61) }), /past leaf 159/)
    refused(raw({ data: Uint8Array.of(0x81, 0x00, 1) }), /shortest/)
    refused(raw({ data: Uint8Array.of(2) }), /past the end/)
    // sixteen leaves, every other one: the runs (16 bytes) are longer than the bitfield (2 bytes)
    refused(raw({ leaves: 16, data: Uint8Array.from(range(0, 8).flatMap(k => k === 0 ? [0, 1] : [1, 1])) }), /longer than the bitfield|not the shorter/)
    // a complete set as a bitfield (2 bytes) where its runs take 2 bytes too: runs win ties
    refused(raw({ leaves: 16, enc: 'bits', data: Uint8Array.of(0xff, 0xff) }), /not the shorter/)
    refused(raw({ enc: 'zip' }), /unknown encoding/)
    refused(raw({ t: 'want' }), /unknown message type/)
    refused(raw({ extra: 1 }), /expected fields/)
    refused(raw({ root: 'bafy' }), /root is not a CID/)
    refused(new Uint8Array(MAX_HOLDINGS_MESSAGE_BYTES + 1), /exceed/)
    refused(Uint8Array.of(0xa0, 0x00), /canonical/)
    // the largest DAG: one run of every leaf decodes, as does a complete bitfield's worth of scattered leaves
    const all = decodeHoldings(raw({ leaves: MAX_HOLDINGS_LEAVES, data: Uint8Array.from([0, ...leb128(MAX_HOLDINGS_LEAVES)]) }))
    assert.equal(all.leaves.count, MAX_HOLDINGS_LEAVES)
    const half = setOf(MAX_HOLDINGS_LEAVES, range(0, MAX_HOLDINGS_LEAVES / 2).map(k => 2 * k))
    const bytes = encodeHoldings({ t: 'holdings', root, leaves: half })
    assert.ok(bytes.length <= MAX_HOLDINGS_MESSAGE_BYTES)
    assert.equal(decodeHoldings(bytes).leaves.count, MAX_HOLDINGS_LEAVES / 2)
  })
})
