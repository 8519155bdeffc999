import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { CID } from 'multiformats/cid'
import { importBytes } from '../../../src/dag/importer.js'
import { decodeNode } from '../../../src/dag/nodes.js'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { HoldingsService, HoldingsTable, LeafSet, type HoldingsMessage } from '../../../src/sync/exchange/index.js'
import { SUPER_SEED_HOLD_MS } from '../../../src/sync/exchange/constants.js'
import { SuperSeeder } from '../../../src/sync/exchange/super-seed.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

/** Chunks of exactly 4 KiB, all listed by one file node. */
const CHUNKS = { minSize: 4096, avgSize: 4096, maxSize: 4096 }
const LEAVES = 32
const FANOUT = 1024

function msg (t: HoldingsMessage['t'], root: CID, size: number, leaves: number[]): HoldingsMessage {
  const set = new LeafSet(size)
  for (const i of leaves) set.add(i)
  return { t, root, leaves: set }
}

function leavesOf (node: CmeshNode, root: CID): CID[] {
  const n = decodeNode(root, node.store.getSync(root))
  assert.equal(n.type, 'file')
  return n.type === 'file' ? n.links.map(l => l.cid) : []
}

describe('super-seeding: a node that holds a file whole sends each leaf about once', () => {
  it('sends leaves nobody had first, and refuses a leaf sent before to a trader when another peer holds it, once', async t => {
    const store = tempStore(t)
    const data = pseudoRandom(8 * 4096, 5)
    const { cid: root } = await importBytes(store, data, { chunker: CHUNKS, fileFanout: FANOUT })
    const node = decodeNode(root, store.getSync(root))
    const leaves = node.type === 'file' ? node.links.map(l => l.cid) : []
    assert.equal(leaves.length, 8)
    const table = new HoldingsTable()
    const seeder = new SuperSeeder(table, store)

    // nothing is super-seeded until a trading peer tells of a file this node holds whole
    assert.equal(seeder.refuse('a', leaves[0]!), false)
    assert.equal(seeder.copies(leaves[0]!), undefined)
    table.receive('a', msg('holdings', root, 8, []))
    seeder.told('a', root)
    assert.equal(seeder.seeding, 1)
    assert.equal(seeder.copies(leaves[0]!), 0)

    // never sent: sent, and counted
    assert.equal(seeder.refuse('a', leaves[0]!), false)
    seeder.sent(leaves[0]!)
    assert.equal(seeder.copies(leaves[0]!), 1)
    // what was sent goes after what was not, otherwise in the order asked
    assert.deepEqual(seeder.order([leaves[0]!, leaves[1]!, leaves[2]!]).map(String), [leaves[1]!, leaves[2]!, leaves[0]!].map(String))

    // sent before, but nobody else says it holds it: sent again
    table.receive('b', msg('holdings', root, 8, []))
    seeder.told('b', root)
    assert.equal(seeder.refuse('b', leaves[0]!), false)
    // a says it holds it now: b is sent to a for it, once; asked again (it could not get it there), it gets it
    table.receive('a', msg('have', root, 8, [0]))
    assert.equal(seeder.refuse('b', leaves[0]!), true)
    assert.equal(seeder.refuse('b', leaves[0]!), false)
    assert.equal(seeder.refusals, 1)
    // a's own claim does not send a elsewhere
    assert.equal(seeder.refuse('a', leaves[0]!), false)
    // a peer that never told holdings does not trade, and would not learn who holds it: served
    assert.equal(seeder.refuse('c', leaves[0]!), false)
    // b left: what it was refused is forgotten, and it trades no more until it tells holdings again
    seeder.forget('b')
    assert.equal(seeder.refuse('b', leaves[0]!), false)
    seeder.told('b', root)
    assert.equal(seeder.refuse('b', leaves[0]!), true)
    // a block that is not a leaf of a super-seeded file is never refused nor counted
    assert.equal(seeder.refuse('b', root), false)
    seeder.sent(root)
    assert.equal(seeder.copies(root), undefined)
  })

  it('seeds only file nodes it holds with every leaf, once told of them or once it sends them', async t => {
    const store = tempStore(t)
    const table = new HoldingsTable()
    const seeder = new SuperSeeder(table, store)
    const whole = await importBytes(store, pseudoRandom(4 * 4096, 6), { chunker: CHUNKS, fileFanout: FANOUT })
    // a file node whose first leaf is gone (as a partial download holds it)
    const other = tempStore(t)
    const { cid: partial } = await importBytes(other, pseudoRandom(4 * 4096, 7), { chunker: CHUNKS, fileFanout: FANOUT })
    const n = decodeNode(partial, other.getSync(partial))
    const links = n.type === 'file' ? n.links.map(l => l.cid) : []
    await store.putMany([partial, ...links.slice(1)].map(cid => ({ cid, bytes: other.getSync(cid) })))
    seeder.told('a', partial)
    // a raw block (a one-chunk file) is not a file node
    seeder.told('a', links[0]!)
    assert.equal(seeder.seeding, 0)
    seeder.sent(partial)
    assert.equal(seeder.seeding, 0)
    // sending a file node held whole starts seeding it too: its leaves are asked for next, maybe before the
    // asker's holdings arrive
    seeder.sent(whole.cid)
    assert.equal(seeder.seeding, 1)
    seeder.told('a', whole.cid)
    assert.equal(seeder.seeding, 1)
  })
})

async function startNode (t: TestContext, bootstrap: string[], options: { superSeed?: boolean, trading?: boolean } = {}): Promise<CmeshNode> {
  const node = await createNode({
    repo: join(tempDir(t), 'repo'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    bootstrap,
    peerExchange: false,
    trading: options.trading ?? true,
    superSeed: options.superSeed ?? true
  })
  t.after(async () => await node.stop())
  return node
}

/** Whether `s` heard that `a` holds every one of the `leaves` leaves of `root`. */
function holdsAll (s: CmeshNode, a: CmeshNode, root: CID, leaves: number): boolean {
  for (let i = 0; i < leaves; i++) if (s.holdings!.table.holds(a.peerId.toString(), root.toString(), i) !== true) return false
  return true
}

async function connected (a: CmeshNode, b: CmeshNode): Promise<void> {
  await waitFor(() => a.libp2p.getConnections(b.peerId).length > 0 && b.libp2p.getConnections(a.peerId).length > 0, { what: 'connected' })
}

/** A seeder of a file of LEAVES chunks, and a first downloader `a` that fetched it whole from it. */
async function seededOnce (t: TestContext): Promise<{ s: CmeshNode, a: CmeshNode, root: CID, leaves: CID[], data: Uint8Array }> {
  const s = await startNode(t, [])
  const data = pseudoRandom(LEAVES * 4096, 23)
  const path = join(tempDir(t), 'f')
  writeFileSync(path, data)
  const { cid: root } = await s.add(path, { chunker: CHUNKS, fileFanout: FANOUT })
  const leaves = leavesOf(s, root)
  assert.equal(leaves.length, LEAVES)
  const a = await startNode(t, [s.addrs()[0]!])
  await connected(a, s)
  await a.fetch(root)
  // the seeder hears that a holds every leaf (a's summary, then its batched haves)
  await waitFor(() => holdsAll(s, a, root, LEAVES), { what: 'the seeder learned a holds the file' })
  for (const l of leaves) assert.equal(s.holdings!.superSeeder!.copies(l), 1)
  return { s, a, root, leaves, data }
}

describe('super-seeding: an answer of leaves just sent elsewhere waits for the taker\'s have', () => {
  it('holds back such an answer for SUPER_SEED_HOLD_MS, then refuses what the taker said it holds', async t => {
    const store = tempStore(t)
    const { cid: root } = await importBytes(store, pseudoRandom(4 * 4096, 8), { chunker: CHUNKS, fileFanout: FANOUT })
    const node = decodeNode(root, store.getSync(root))
    const leaves = node.type === 'file' ? node.links.map(l => l.cid) : []
    const table = new HoldingsTable()
    const clock = new FakeClock()
    const seeder = new SuperSeeder(table, store, clock)
    for (const p of ['a', 'b']) {
      table.receive(p, msg('holdings', root, 4, []))
      seeder.told(p, root)
    }
    seeder.sent(leaves[0]!) // to a, at 0
    seeder.sent(leaves[1]!)
    clock.advance(100)
    // b asks for both: each went to another peer 100 ms ago, and nobody says it holds it yet
    let held = false
    const waiting = seeder.hold('b', [leaves[0]!, leaves[1]!]).then(() => { held = true })
    clock.advance(SUPER_SEED_HOLD_MS - 101)
    await Promise.resolve()
    assert.equal(held, false)
    table.receive('a', msg('have', root, 4, [0]))
    clock.advance(1)
    await waiting
    assert.equal(held, true)
    assert.equal(seeder.holds, 1)
    // when its turn comes, the leaf a said it holds is refused; the other one, still unclaimed, goes
    assert.equal(seeder.refuse('b', leaves[0]!), true)
    assert.equal(seeder.refuse('b', leaves[1]!), false)

    // no wait: with a leaf never sent among them, for a peer that does not trade, or once the hold time has passed
    await seeder.hold('b', [leaves[1]!, leaves[2]!])
    await seeder.hold('c', [leaves[1]!])
    clock.advance(SUPER_SEED_HOLD_MS)
    await seeder.hold('b', [leaves[1]!])
    // nor for a leaf another peer claims (refused at its turn) or one refused to the asker before (it asks again)
    await seeder.hold('b', [leaves[0]!])
    assert.equal(seeder.holds, 1)
    // an aborted wait rejects
    seeder.sent(leaves[3]!)
    const abort = new AbortController()
    const aborted = seeder.hold('b', [leaves[3]!], abort.signal)
    abort.abort()
    await assert.rejects(aborted, { name: 'AbortError' })
  })
})

describe('super-seeding between nodes', () => {
  it('a second downloader that reaches the first gets every leaf from it: the seeder sends each leaf once', async t => {
    const { s, a, root, leaves, data } = await seededOnce(t)
    const b = await startNode(t, [s.addrs()[0]!, a.addrs()[0]!])
    await connected(b, s)
    await connected(b, a)
    const r = await b.fetch(root)
    assert.deepEqual(await collect(b.cat(root)), Buffer.from(data))
    for (const l of leaves) assert.equal(s.holdings!.superSeeder!.copies(l), 1, 'a leaf went twice from the seeder')
    assert.ok((r.sources[a.peerId.toString()] ?? 0) >= data.length, `a sent ${r.sources[a.peerId.toString()]} of ${data.length}`)
  })

  it('a downloader that cannot reach the peer holding a refused leaf asks again and gets it from the seeder', async t => {
    const { s, root, leaves, data } = await seededOnce(t)
    // b reaches the seeder only
    const b = await startNode(t, [s.addrs()[0]!])
    await connected(b, s)
    const r = await b.fetch(root)
    assert.deepEqual(await collect(b.cat(root)), Buffer.from(data))
    assert.equal(r.sources[s.peerId.toString()], data.length + s.store.sizeOf(root)!)
    // every leaf was refused once (a holds it), then sent on the second ask
    assert.equal(s.holdings!.superSeeder!.refusals, LEAVES)
    for (const l of leaves) assert.equal(s.holdings!.superSeeder!.copies(l), 2)
  })

  it('without super-seeding (the default), or to a downloader that does not trade, the seeder sends again', async t => {
    for (const [superSeed, trading] of [[false, true], [true, false]] as const) {
      const s = await startNode(t, [], { superSeed })
      // off unless asked for
      assert.equal(new HoldingsService({ libp2p: s.libp2p, store: s.store }).superSeeder, undefined)
      const data = pseudoRandom(LEAVES * 4096, 29)
      const path = join(tempDir(t), 'f')
      writeFileSync(path, data)
      const { cid: root } = await s.add(path, { chunker: CHUNKS, fileFanout: FANOUT })
      const a = await startNode(t, [s.addrs()[0]!])
      await a.fetch(root)
      await waitFor(() => holdsAll(s, a, root, LEAVES), { what: 'the seeder learned a holds the file' })
      const b = await startNode(t, [s.addrs()[0]!], { trading })
      await connected(b, s)
      const r = await b.fetch(root)
      assert.equal(r.sources[s.peerId.toString()], data.length + s.store.sizeOf(root)!, `superSeed ${superSeed}, trading ${trading}`)
      assert.equal(s.holdings!.superSeeder?.refusals ?? 0, 0)
    }
  })
})
