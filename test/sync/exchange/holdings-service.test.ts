import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { CID } from 'multiformats/cid'
import { cidKey } from '../../../src/dag/cid.js'
import { importBytes } from '../../../src/dag/importer.js'
import { decodeNode } from '../../../src/dag/nodes.js'
import { fetchDag, type BlockSource } from '../../../src/sync/fetch/fetcher.js'
import { storeSource } from '../../../src/sync/fetch/store-source.js'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { HoldingsService } from '../../../src/sync/exchange/holdings-service.js'
import { LeafSet } from '../../../src/sync/exchange/holdings.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

/** Chunks of exactly 4 KiB, all listed by one file node: leaf i is bytes 4096 i to 4096 (i + 1). */
const CHUNKS = { minSize: 4096, avgSize: 4096, maxSize: 4096 }
const LEAVES = 96
const FANOUT = 1024

async function startNode (t: TestContext, bootstrap: string[] = [], trading = true, stop = true, uploadLimit?: number): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, trading, uploadLimit })
  if (stop) t.after(async () => await node.stop())
  return node
}

/** A seeder holding a file of LEAVES chunks: its root and its leaves in order. */
async function seeder (t: TestContext): Promise<{ s: CmeshNode, root: CID, leaves: CID[], data: Uint8Array }> {
  const s = await startNode(t)
  const data = pseudoRandom(LEAVES * 4096, 17)
  const path = join(tempDir(t), 'f')
  writeFileSync(path, data)
  const { cid: root } = await s.add(path, { chunker: CHUNKS, fileFanout: FANOUT })
  const node = decodeNode(root, s.store.getSync(root))
  assert.equal(node.type, 'file')
  const leaves = node.type === 'file' ? node.links.map(l => l.cid) : []
  assert.equal(leaves.length, LEAVES)
  return { s, root, leaves, data }
}

async function connected (a: CmeshNode, b: CmeshNode): Promise<void> {
  await waitFor(() => a.libp2p.getConnections(b.peerId).length > 0 && b.libp2p.getConnections(a.peerId).length > 0, { what: 'connected' })
}

describe('trading holdings between downloaders of one file', () => {
  it('learn each other\'s holdings, and one fetches from the other what it said it holds instead of from the seeder', async t => {
    const { s, root, leaves, data } = await seeder(t)
    const d1 = await startNode(t, [s.addrs()[0]!])
    const d2 = await startNode(t, [s.addrs()[0]!, d1.addrs()[0]!])
    await connected(d1, s)
    await connected(d2, d1)
    // d1 already holds the file node and the first half of the leaves (an earlier, interrupted download)
    const half = LEAVES / 2
    await d1.store.putMany([root, ...leaves.slice(0, half)].map(cid => ({ cid, bytes: s.store.getSync(cid) })))
    // its fetch of the rest tells the peers what it holds; d2 keeps it
    await d1.fetch(root)
    const d1id = d1.peerId.toString()
    const d2id = d2.peerId.toString()
    const sid = s.peerId.toString()
    await waitFor(() => d2.holdings!.table.holds(d1id, root.toString(), 0), { what: 'd2 learned what d1 holds' })
    assert.equal(d2.holdings!.table.holds(d1id, root.toString(), half), false)
    assert.ok(d1.holdings!.counts.sent.holdings >= 2)

    const r = await d2.fetch(root)
    assert.deepEqual(await collect(d2.cat(root)), Buffer.from(data))
    // d1 learned what d2 holds too: d2 told its sources when its fetch reached the file node
    await waitFor(() => d1.holdings!.table.holds(d2id, root.toString(), 0) !== undefined, { what: 'd1 learned what d2 holds' })
    // the half d1 said it held came from d1, the seeder was asked for (about) the rest only
    const halfBytes = half * 4096
    assert.ok((r.sources[d1id] ?? 0) >= halfBytes * 0.75, `d1 sent ${r.sources[d1id]} of ${halfBytes}`)
    assert.ok((r.sources[sid] ?? 0) < data.length, `the seeder sent ${r.sources[sid]} of ${data.length}`)
  })

  it('keeps two downloaders fetching at once current on each other\'s holdings, with few have messages', async t => {
    const s = await startNode(t, [], true, true, 192 * 1024)
    const data = pseudoRandom(LEAVES * 4096, 31)
    const path = join(tempDir(t), 'f')
    writeFileSync(path, data)
    const { cid: root } = await s.add(path, { chunker: CHUNKS, fileFanout: FANOUT })
    const d1 = await startNode(t, [s.addrs()[0]!])
    const d2 = await startNode(t, [s.addrs()[0]!, d1.addrs()[0]!])
    await connected(d1, s)
    await connected(d2, s)
    await connected(d2, d1)
    const [r1, r2] = await Promise.all([d1.fetch(root), d2.fetch(root)])
    assert.deepEqual(await collect(d1.cat(root)), Buffer.from(data))
    assert.deepEqual(await collect(d2.cat(root)), Buffer.from(data))
    const d1id = d1.peerId.toString()
    const d2id = d2.peerId.toString()
    // each told the other what it verified, in batches
    assert.ok(d1.holdings!.counts.received.have > 0 && d2.holdings!.counts.received.have > 0)
    assert.ok(d1.holdings!.counts.sent.have < LEAVES / 2, `d1 sent ${d1.holdings!.counts.sent.have} haves for ${LEAVES} leaves`)
    // the last batches arrive: each knows the other holds the whole file
    await waitFor(() => [...Array(LEAVES).keys()].every(i => d2.holdings!.table.holds(d1id, root.toString(), i) === true &&
      d1.holdings!.table.holds(d2id, root.toString(), i) === true), { what: 'each told the other all it holds' })
    // the seeder sent less than a copy to each: the downloaders traded the rest
    const sid = s.peerId.toString()
    const fromSeeder = (r1.sources[sid] ?? 0) + (r2.sources[sid] ?? 0)
    assert.ok(fromSeeder < 2 * data.length, `the seeder sent ${fromSeeder} bytes for two copies of ${data.length}`)
  })

  it('distrusts a peer that claims blocks it cannot serve, and the fetch completes from the seeder', async t => {
    const { s, root, data } = await seeder(t)
    const liar = await startNode(t, [s.addrs()[0]!])
    const d = await startNode(t, [s.addrs()[0]!, liar.addrs()[0]!])
    await connected(d, s)
    await connected(d, liar)
    const lid = liar.peerId.toString()
    const did = d.peerId.toString()
    const all = new LeafSet(LEAVES)
    for (let i = 0; i < LEAVES; i++) all.add(i)
    liar.holdings!.send(did, [{ t: 'holdings', root, leaves: all }])
    await waitFor(() => d.holdings!.table.holds(lid, root.toString(), 0), { what: 'the claim arrived' })

    const r = await d.fetch(root)
    assert.deepEqual(await collect(d.cat(root)), Buffer.from(data))
    assert.equal(r.sources[lid] ?? 0, 0)
    // it denied what it claimed: its claims are dropped, and what it says of the file from now on is ignored
    for (let i = 0; i < LEAVES; i++) assert.equal(d.holdings!.table.holds(lid, root.toString(), i), undefined)
    const before = d.holdings!.counts.received.holdings
    liar.holdings!.send(did, [{ t: 'holdings', root, leaves: all }])
    await waitFor(() => d.holdings!.counts.received.holdings > before, { what: 'the second claim arrived' })
    assert.equal(d.holdings!.table.holds(lid, root.toString(), 0), undefined)
  })

  it('batches the leaves verified into one have, by time or by count, never one per block', async t => {
    // a file's leaves to speak of (the nodes trade on them; neither holds them)
    const scratch = tempStore(t)
    const { cid: root } = await importBytes(scratch, pseudoRandom(100 * 4096, 5), { chunker: CHUNKS, fileFanout: FANOUT })
    const file = decodeNode(root, scratch.getSync(root))
    const leaves = file.type === 'file' ? file.links.map(l => l.cid) : []
    assert.equal(leaves.length, 100)

    // nodes without trading, each given a holdings service of the test's (a's on a fake clock)
    const a = await startNode(t, [], false, false)
    const started: Array<{ stop: () => Promise<void> }> = [a]
    // one hook stops all, the services before their nodes (after hooks run in the order they were added)
    t.after(async () => { for (const x of started.reverse()) await x.stop() })
    const b = await startNode(t, [a.addrs()[0]!], false, false)
    started.push(b)
    await connected(a, b)
    const clock = new FakeClock()
    const ha = new HoldingsService({ libp2p: a.libp2p, store: a.store }, { clock })
    const hb = new HoldingsService({ libp2p: b.libp2p, store: b.store })
    await ha.start()
    started.push(ha)
    await hb.start()
    started.push(hb)
    const aid = a.peerId.toString()
    const bid = b.peerId.toString()

    // both fetch the file; b, not connected to a as a source of its fetch, tells nobody, and answers a's summary
    // with its own
    const ta = ha.trading()
    const tb = hb.trading()
    t.after(() => { ta.close(); tb.close() })
    tb.file(root, leaves, [])
    ta.file(root, leaves, [bid])
    await waitFor(() => ha.counts.received.holdings === 1, { what: "b's answer" })
    assert.equal(hb.counts.received.holdings, 1)
    assert.equal(hb.counts.sent.holdings, 1)
    assert.equal(hb.table.holds(aid, root.toString(), 0), false)

    // ten leaves verified: nothing goes until the batch's time comes, then one have with all ten
    for (let i = 0; i < 10; i++) ta.verified(cidKey(leaves[i]!))
    assert.equal(ha.counts.sent.have, 0)
    assert.equal(ta.holds(bid, cidKey(leaves[0]!)), false)
    clock.advance(249)
    assert.equal(ha.counts.sent.have, 0)
    clock.advance(1)
    await waitFor(() => hb.counts.received.have === 1, { what: 'one have' })
    for (let i = 0; i < 10; i++) assert.equal(hb.table.holds(aid, root.toString(), i), true)
    assert.equal(hb.table.holds(aid, root.toString(), 10), false)

    // 64 leaves fill a batch: it goes at once, without the clock
    for (let i = 10; i < 74; i++) ta.verified(cidKey(leaves[i]!))
    await waitFor(() => hb.counts.received.have === 2, { what: 'the full batch' })
    assert.equal(ha.counts.sent.have, 2)
    assert.equal(hb.table.holds(aid, root.toString(), 73), true)
    // what b learned reaches its fetch through its trading
    assert.equal(tb.holds(aid, cidKey(leaves[73]!)), true)
    assert.equal(tb.holds(aid, cidKey(leaves[74]!)), false)
    assert.equal(tb.holds(aid, 'not-a-leaf'), undefined)
    // the rest go when the fetch ends, in one more have
    for (let i = 74; i < 80; i++) ta.verified(cidKey(leaves[i]!))
    ta.close()
    await waitFor(() => hb.counts.received.have === 3, { what: 'the last batch' })
    assert.equal(clock.pending, 0)

    // a summary of another leaf count than the file's is refused, and changes nothing
    const wrong = new LeafSet(5)
    wrong.add(4)
    ha.send(bid, [{ t: 'holdings', root, leaves: wrong }])
    await waitFor(() => hb.counts.refused === 1, { what: 'the bad summary refused' })
    assert.equal(hb.table.holds(aid, root.toString(), 79), true)
  })
  it('goes rarest first by what peers said they hold, after a few blocks in random order', async t => {
    const seed = tempStore(t)
    const { cid: root } = await importBytes(seed, pseudoRandom(LEAVES * 4096, 23), { chunker: CHUNKS, fileFanout: FANOUT })
    const file = decodeNode(root, seed.getSync(root))
    const leaves = file.type === 'file' ? file.links.map(l => cidKey(l.cid)) : []
    const node = await startNode(t)
    // both can serve every block; p1 said it holds all of the file, p2 only its first half: the second half is rarer
    const all = new LeafSet(LEAVES)
    const firstHalf = new LeafSet(LEAVES)
    for (let i = 0; i < LEAVES; i++) {
      all.add(i)
      if (i < LEAVES / 2) firstHalf.add(i)
    }
    node.holdings!.take('p1', { t: 'holdings', root, leaves: all })
    node.holdings!.take('p2', { t: 'holdings', root, leaves: firstHalf })
    const asked: string[][] = []
    const recording = (source: BlockSource): BlockSource => ({
      id: source.id,
      request: async (cids, o) => {
        if (source.id === 'p1') asked.push(cids.map(cidKey))
        return await source.request(cids, o)
      }
    })
    const r = await fetchDag(tempStore(t), root, [recording(storeSource(seed, 'p1')), recording(storeSource(seed, 'p2'))], {
      perSource: 1,
      batchSize: 8,
      trading: node.holdings!.trading()
    })
    assert.equal(r.fetchedBlocks, LEAVES + 1)
    const index = (k: string): number => leaves.indexOf(k)
    // p1 was asked for the root, then (the list not yet sorted) whatever came first; from its next request on it
    // was asked for the blocks only it holds, until they ran out
    const leafRequests = asked.filter(a => a.every(k => index(k) >= 0))
    assert.ok(leafRequests.length >= 3, `${leafRequests.length} leaf requests to p1`)
    for (const a of leafRequests.slice(1, 3)) assert.ok(a.every(k => index(k) >= LEAVES / 2), `p1 was asked for leaves ${a.map(index).join(', ')}`)
    // p2 was never asked for what it said it lacks while p1 said it held it
    assert.ok((r.sources.p2 ?? 0) <= (LEAVES / 2) * 4096)
  })

  it('fetches from a peer that does not trade (an older node) as before', async t => {
    const s = await startNode(t, [], false)
    const data = pseudoRandom(LEAVES * 4096, 29)
    const path = join(tempDir(t), 'f')
    writeFileSync(path, data)
    const { cid: root } = await s.add(path, { chunker: CHUNKS, fileFanout: FANOUT })
    const d = await startNode(t, [s.addrs()[0]!])
    await connected(d, s)
    const r = await d.fetch(root)
    assert.deepEqual(await collect(d.cat(root)), Buffer.from(data))
    assert.equal(r.sources[s.peerId.toString()], data.length + s.store.getSync(root).length)
    // its summary found nobody to take it
    assert.equal(d.holdings!.counts.sent.holdings, 0)
  })
})
