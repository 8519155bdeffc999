import assert from 'node:assert/strict'
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { CODEC_RAW } from '../../../src/dag/constants.js'
import { importPath } from '../../../src/dag/importer.js'
import { blockLinks } from '../../../src/dag/links.js'
import { resolvePath } from '../../../src/dag/exporter.js'
import {
  applyDelta, BasePicker, DeltaService, decodeDeltaAnswer, decodeDeltaRequest, deltaAnswerBytes, deltaRequestBytes, encodeDelta, encodeDeltaAnswer,
  encodeDeltaRequest, joinBases, MAX_ANSWER_WORK, MAX_BASES, MAX_DELTA_TARGET, MAX_DELTA_WANTS, pairChildren
} from '../../../src/sync/delta/index.js'
import * as dagCbor from '@ipld/dag-cbor'
import { pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'

const rawCid = async (bytes: Uint8Array): Promise<CID> => CID.createV1(CODEC_RAW, await sha256.digest(bytes))
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('block delta codec', () => {
  it('rebuilds a block from a base with a small edit, in far fewer bytes than the block', () => {
    const base = pseudoRandom(64 * 1024, 3)
    const target = Uint8Array.from(base)
    target.set(enc('an edit in the middle'), 30_000)
    const delta = encodeDelta(base, target)
    assert.ok(delta.length < 200, `delta of ${delta.length} bytes`)
    assert.deepEqual(applyDelta(base, delta), target)
  })

  it('round-trips any base and target (fast-check)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), fc.uint8Array({ maxLength: 4096 }), fc.nat(4096), (base, tail, cut) => {
      // targets that share a part of the base, and targets that share nothing
      const target = new Uint8Array([...base.subarray(0, Math.min(cut, base.length)), ...tail])
      assert.deepEqual(applyDelta(base, encodeDelta(base, target)), target)
      assert.deepEqual(applyDelta(base, encodeDelta(base, tail)), tail)
    }), { numRuns: 300 })
  })

  it('rejects any other bytes with ERR_BAD_DELTA, never anything else (fast-check)', () => {
    const base = pseudoRandom(2048, 4)
    const good = encodeDelta(base, Uint8Array.from([...base.subarray(100, 900), ...enc('x'), ...base.subarray(1000, 2000)]))
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(good.length - 1), fc.nat(255), (junk, at, byte) => {
      for (const d of [junk, Uint8Array.from(good).fill(byte, at, at + 1), good.subarray(0, at)]) {
        try {
          const out = applyDelta(base, d, { maxTarget: 4096 })
          assert.ok(out.length <= 4096)
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'ERR_BAD_DELTA', String(err))
        }
      }
    }), { numRuns: 500 })
  })

  it('caps the target size and the operations, and checks copies against the base length', () => {
    const base = pseudoRandom(40, 5)
    assert.equal(code(() => applyDelta(base, enc(`${(MAX_DELTA_TARGET + 1).toString(32)}\n0;`))), 'ERR_BAD_DELTA')
    // 10 bytes announced, a copy of 20 bytes from a 40-byte base: past the announced size
    assert.equal(code(() => applyDelta(base, enc('A\nK@0,0;'))), 'ERR_BAD_DELTA')
    // a copy that reaches past the base
    assert.equal(code(() => applyDelta(base, enc('A\nA@_,0;'))), 'ERR_BAD_DELTA')
    // three one-byte inserts with at most two operations
    assert.equal(code(() => applyDelta(base, enc('3\n1:a1:b1:c0;'), { maxOps: 2 })), 'ERR_BAD_DELTA')
    assert.deepEqual(applyDelta(base, enc('3\n1:a1:b1:c0;'), { maxOps: 3 }), enc('abc'))
    assert.equal(code(() => applyDelta(base, enc('3\n1:a1:b1:c0;x'))), 'ERR_BAD_DELTA')
    assert.equal(code(() => applyDelta(base, enc('1234567\n0;'))), 'ERR_BAD_DELTA')
  })
})

describe('delta wire messages', () => {
  it('round-trips requests and answers, and counts their bytes', async () => {
    const cids = await Promise.all([1, 2, 3].map(async i => await rawCid(Uint8Array.of(i))))
    const wants = [{ cid: cids[0]!, bases: [cids[1]!, cids[2]!] }]
    assert.deepEqual(decodeDeltaRequest(encodeDeltaRequest(wants)), wants)
    const answer = [Uint8Array.of(1, 2, 3), undefined]
    assert.deepEqual(decodeDeltaAnswer(encodeDeltaAnswer(answer), 2), answer)
    assert.equal(encodeDeltaAnswer(answer).length, dagCbor.encode({ deltas: [] }).length + deltaAnswerBytes(3) + deltaAnswerBytes(undefined))
    assert.equal(deltaAnswerBytes(300), 303)
    assert.equal(encodeDeltaRequest(wants).length, dagCbor.encode({ wants: [] }).length + deltaRequestBytes(cids[0]!, [cids[1]!, cids[2]!]))
  })

  it('decodes strictly: exact keys, counts within the caps, CIDs only', async () => {
    const cid = await rawCid(Uint8Array.of(1))
    const bad = [
      dagCbor.encode({ wants: [] }),
      dagCbor.encode({ wants: [{ cid, bases: [] }] }),
      dagCbor.encode({ wants: [{ cid, bases: Array(MAX_BASES + 1).fill(cid) }] }),
      dagCbor.encode({ wants: Array(MAX_DELTA_WANTS + 1).fill({ cid, bases: [cid] }) }),
      dagCbor.encode({ wants: [{ cid: 'x', bases: [cid] }] }),
      dagCbor.encode({ wants: [{ cid, bases: [cid], more: 1 }] }),
      dagCbor.encode({ wants: [{ cid, bases: [cid] }], more: 1 }),
      Uint8Array.of(0xff, 0x00)
    ]
    for (const b of bad) assert.equal(code(() => decodeDeltaRequest(b)), 'ERR_PROTOCOL')
    assert.equal(code(() => decodeDeltaAnswer(encodeDeltaAnswer([undefined]), 2)), 'ERR_PROTOCOL')
    assert.equal(code(() => decodeDeltaAnswer(dagCbor.encode({ deltas: ['x'] }), 1)), 'ERR_PROTOCOL')
    assert.equal(code(() => decodeDeltaAnswer(dagCbor.encode({ deltas: [new Uint8Array(MAX_DELTA_TARGET + 1)] }), 1)), 'ERR_PROTOCOL')
  })

  it('joins bases in order, and gives none when one is missing', () => {
    assert.deepEqual(joinBases([Uint8Array.of(1), Uint8Array.of(2, 3)]), Uint8Array.of(1, 2, 3))
    assert.equal(joinBases([Uint8Array.of(1), undefined]), undefined)
  })
})

describe('pairing a new DAG with the old one', () => {
  for (const format of ['cmesh', 'unixfs'] as const) {
    it(`pairs an edited file's changed leaf with the old leaf at its place (${format})`, async t => {
      const dir = tempDir(t)
      const store = tempStore(t)
      const chunker = { minSize: 1024, avgSize: 4096, maxSize: 16384 }
      const data = pseudoRandom(200_000, 7)
      mkdirSync(join(dir, 'v1'))
      mkdirSync(join(dir, 'v2'))
      writeFileSync(join(dir, 'v1', 'big'), data)
      const edited = Uint8Array.from(data)
      edited.set(enc('EDIT'), 120_000)
      writeFileSync(join(dir, 'v2', 'big'), edited)
      const v1 = await importPath(store, join(dir, 'v1'), { chunker, format })
      const v2 = await importPath(store, join(dir, 'v2'), { chunker, format })
      const oldFile = (await resolvePath(store, v1.cid, 'big')).cid
      const newFile = (await resolvePath(store, v2.cid, 'big')).cid
      // the root directory pairs the file by name
      const top = pairChildren({ cid: v2.cid, bytes: store.getSync(v2.cid), at: 0 }, [{ cid: v1.cid, bytes: store.getSync(v1.cid), at: 0 }])
      assert.deepEqual(top.map(p => [p.wanted.toString(), p.bases.map(b => b.cid.toString())]), [[newFile.toString(), [oldFile.toString()]]])
      // walked from the root, the new leaves each get bases, and a delta against them is small
      const picker = new BasePicker(store, v2.cid, v1.cid)
      picker.expanded(v2.cid, store.getSync(v2.cid))
      assert.deepEqual(picker.basesOf(newFile)?.map(String), [oldFile.toString()])
      const queue = [newFile]
      let lacked = 0
      while (queue.length > 0) {
        const cid = queue.shift()!
        const bytes = store.getSync(cid)
        picker.expanded(cid, bytes)
        const bases = picker.basesOf(cid)
        if (bases === undefined) continue // held as it was: nothing at its place changed
        lacked++
        const base = joinBases(bases.map(b => picker.read(b)))!
        assert.ok(encodeDelta(base, bytes).length < Math.max(64, bytes.length / 4), `${cid}: delta of ${encodeDelta(base, bytes).length} bytes for ${bytes.length}, ${bases.length} bases of ${base.length}`)
        if (cid.code !== CODEC_RAW) queue.push(...blockLinks(cid, bytes))
      }
      assert.ok(lacked >= 2, `${lacked} blocks paired`)
    })
  }
})

describe('a seeder answering delta requests', () => {
  it('answers what it holds and what pays, and "no" past its work cap', async t => {
    const store = tempStore(t)
    const idle = async (): Promise<never> => { throw new Error('not used: answer() reads the store only') }
    const service = new DeltaService({ libp2p: { handle: idle, unhandle: idle, dialProtocol: idle }, store })
    const wants = []
    for (let i = 0; i < 6; i++) {
      const old = pseudoRandom(MAX_DELTA_TARGET, 20 + i)
      const next = Uint8Array.from(old)
      next.set(enc('an edit'), 1000)
      const base = await rawCid(old)
      const cid = await rawCid(next)
      await store.put(base, old)
      await store.put(cid, next)
      wants.push({ cid, bases: [base] })
    }
    const unheld = await rawCid(enc('not held'))
    const small = await rawCid(enc('tiny'))
    await store.put(small, enc('tiny'))
    const answer = await service.answer([{ cid: unheld, bases: [wants[0]!.bases[0]!] }, { cid: small, bases: [wants[0]!.bases[0]!] }, ...wants])
    assert.equal(answer[0], undefined, 'a block not held')
    assert.equal(answer[1], undefined, 'a delta that does not pay (a 4-byte block)')
    // the tiny block read its 1 MiB base, then 2 MiB per want: three fit the work cap (8 MiB), the rest are "no"
    assert.equal(MAX_ANSWER_WORK, 8 * MAX_DELTA_TARGET)
    assert.deepEqual(answer.slice(2).map(d => d !== undefined), [true, true, true, false, false, false])
    assert.deepEqual(applyDelta(store.getSync(wants[0]!.bases[0]!), answer[2]!), store.getSync(wants[0]!.cid))
    assert.deepEqual(service.served, { deltas: 3, refused: 5, bytes: 0 })
  })
})
