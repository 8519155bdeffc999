import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { verifyStore } from '../../../src/dag/verify.js'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { DELTA_PROTOCOL, DeltaService, decodeDeltaRequest, encodeDelta, encodeDeltaAnswer, joinBases } from '../../../src/sync/delta/index.js'
import { readFrames, sendFrame } from '../../../src/sync/exchange/framing.js'
import { pseudoRandom, tempDir } from '../../helpers/temp.js'

const CHUNKS = { minSize: 1024, avgSize: 4096, maxSize: 16384 }

async function startNode (t: TestContext, bootstrap: string[] = [], serveDeltas?: boolean): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, serveDeltas })
  t.after(async () => await node.stop())
  return node
}

/** v1: a 1 MB file and a directory of 40 small files; v2: three small edits in the big file, one small file edited, one added. */
function versions (t: TestContext): { v1: string, v2: string } {
  const dir = tempDir(t)
  const big = pseudoRandom(1_000_000, 11)
  const v1 = join(dir, 'v1')
  const v2 = join(dir, 'v2')
  for (const v of [v1, v2]) mkdirSync(join(v, 'docs'), { recursive: true })
  writeFileSync(join(v1, 'big.bin'), big)
  const edited = Uint8Array.from(big)
  for (const at of [100_000, 450_000, 900_000]) edited.set(new TextEncoder().encode('a small edit'), at)
  writeFileSync(join(v2, 'big.bin'), edited)
  for (let i = 0; i < 40; i++) {
    const text = `page ${i}\n` + 'lorem ipsum dolor sit amet '.repeat(40 + i)
    writeFileSync(join(v1, 'docs', `p${i}.txt`), text)
    writeFileSync(join(v2, 'docs', `p${i}.txt`), i === 7 ? text.replace('page 7', 'page seven') : text)
  }
  writeFileSync(join(v2, 'docs', 'new.txt'), 'a new page\n')
  return { v1, v2 }
}

describe('block deltas during an update, between nodes on loopback', () => {
  it('an update from a held version receives fewer bytes than the plain blocks and ends with the exact content', async t => {
    const { v1, v2 } = versions(t)
    const a = await startNode(t)
    const { cid: root1 } = await a.add(v1, { chunker: CHUNKS })
    const { cid: root2 } = await a.add(v2, { chunker: CHUNKS })
    // b updates with deltas, c (holding v1 too) with blocks only
    const b = await startNode(t, [a.addrs()[0]!])
    const c = await startNode(t, [a.addrs()[0]!])
    for (const n of [b, c]) assert.ok((await n.add(v1, { chunker: CHUNKS })).cid.equals(root1))
    const withDeltas = await b.fetch(root2, { from: root1 })
    const plain = await c.fetch(root2)
    t.diagnostic(`${withDeltas.fetchedBlocks} blocks of ${withDeltas.fetchedBytes} bytes: ${withDeltas.wireBytes} wire bytes with deltas, ${plain.wireBytes} without`)
    assert.equal(withDeltas.fetchedBytes, plain.fetchedBytes)
    assert.ok(withDeltas.fetchedBlocks > 5, `${withDeltas.fetchedBlocks} blocks fetched`)
    assert.ok(withDeltas.wireBytes * 4 < plain.wireBytes, `with deltas ${withDeltas.wireBytes} wire bytes, blocks only ${plain.wireBytes}`)
    assert.ok(withDeltas.wireBytes * 4 < withDeltas.fetchedBytes, `with deltas ${withDeltas.wireBytes} wire bytes for ${withDeltas.fetchedBytes} block bytes`)
    const report = await verifyStore(b.store)
    assert.ok(report.ok, JSON.stringify(report))
    const out = join(tempDir(t), 'copy')
    await b.get(root2, out)
    assert.deepEqual(readFileSync(join(out, 'big.bin')), readFileSync(join(v2, 'big.bin')))
    assert.equal(readFileSync(join(out, 'docs', 'p7.txt'), 'utf8'), readFileSync(join(v2, 'docs', 'p7.txt'), 'utf8'))
    assert.equal(readFileSync(join(out, 'docs', 'new.txt'), 'utf8'), 'a new page\n')
  })

  it("rejects a lying seeder's deltas (CID mismatch) and completes the fetch from its blocks", async t => {
    const { v1, v2 } = versions(t)
    // the liar serves blocks honestly but answers every delta request with the delta of other bytes
    const liar = await startNode(t, [], false)
    const { cid: root1 } = await liar.add(v1, { chunker: CHUNKS })
    const { cid: root2 } = await liar.add(v2, { chunker: CHUNKS })
    let lies = 0
    await liar.libp2p.handle(DELTA_PROTOCOL, async (stream: Stream) => {
      for await (const frame of readFrames(stream, 1 << 22)) {
        const wants = decodeDeltaRequest(frame)
        const deltas = wants.map(w => {
          const base = joinBases(w.bases.map(b => liar.store.getSync(b)))!
          const wrong = Uint8Array.from(liar.store.getSync(w.cid))
          wrong[0] = wrong[0]! ^ 1
          lies++
          return encodeDelta(base, wrong)
        })
        await sendFrame(stream, encodeDeltaAnswer(deltas))
        await stream.close()
        return
      }
    })
    const b = await startNode(t, [liar.addrs()[0]!])
    await b.add(v1, { chunker: CHUNKS })
    const deltas = new DeltaService({ libp2p: b.libp2p, store: b.store }, { serve: false })
    const base = deltas.base(b.store, root2, root1)
    const r = await b.fetch(root2, { base })
    assert.ok(lies > 0, 'the liar was asked for deltas')
    assert.ok(base.stats.rejected > 0 && base.stats.deltaBlocks === 0, JSON.stringify(base.stats))
    assert.ok(r.fetchedBlocks > 5)
    const out = join(tempDir(t), 'copy')
    await b.get(root2, out)
    assert.deepEqual(readFileSync(join(out, 'big.bin')), readFileSync(join(v2, 'big.bin')))
    assert.ok((await verifyStore(b.store)).ok)
  })

  it('asks a peer that does not serve deltas once, then fetches its blocks', async t => {
    const { v1, v2 } = versions(t)
    const old = await startNode(t, [], false)
    const { cid: root1 } = await old.add(v1, { chunker: CHUNKS })
    const { cid: root2 } = await old.add(v2, { chunker: CHUNKS })
    const b = await startNode(t, [old.addrs()[0]!])
    await b.add(v1, { chunker: CHUNKS })
    const base = new DeltaService({ libp2p: b.libp2p, store: b.store }, { serve: false }).base(b.store, root2, root1)
    const r = await b.fetch(root2, { base })
    assert.deepEqual({ failedAsks: base.stats.failedAsks, deltaBlocks: base.stats.deltaBlocks }, { failedAsks: 1, deltaBlocks: 0 })
    assert.ok(r.fetchedBlocks > 5)
    const out = join(tempDir(t), 'copy')
    await b.get(root2, out)
    assert.deepEqual(readFileSync(join(out, 'big.bin')), readFileSync(join(v2, 'big.bin')))
  })
})
