import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, Stream } from '@libp2p/interface'
import { cidOf } from '../../../src/dag/cid.js'
import { CODEC_RAW } from '../../../src/dag/constants.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { importBytes, importPath } from '../../../src/dag/importer.js'
import { createHost, type RelayMode } from '../../../src/node/host.js'
import { createNode, type CmeshNode, type NodeOptions } from '../../../src/node/index.js'
import { ContentRouting, DHT_PROTOCOL, innerRoots, routingKey, type DhtMode } from '../../../src/sync/routing/index.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

async function host (t: TestContext, dht: DhtMode, relay: RelayMode = 'off'): Promise<Libp2p> {
  const h = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, banned: new Set(), dht, relay })
  t.after(async () => { await h.stop() })
  return h
}

/** Wait until `a` counts `b` as a DHT peer (identify has told it `b` speaks the DHT protocol). */
async function dhtPeers (a: Libp2p, b: Libp2p): Promise<void> {
  await waitFor(async () => (await a.peerStore.get(b.peerId)).protocols.includes(DHT_PROTOCOL), { what: 'identify' })
  await waitFor(() => (a.services.dht as { routingTable: { size: number } }).routingTable.size > 0, { what: 'a routing table entry' })
}

async function node (t: TestContext, options: NodeOptions): Promise<CmeshNode> {
  const n = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, peerExchange: false, minPeers: 1, ...options })
  t.after(async () => { await n.stop() })
  return n
}

describe('content routing over the community DHT', () => {
  it('finds and dials the provider of a root through a server it shares with it', async t => {
    const b = await host(t, 'server')
    const c = await host(t, 'server')
    const a = await host(t, 'client')
    await c.dial(b.getMultiaddrs()[0]!)
    await dhtPeers(c, b)
    const cid = cidOf(await getHasher('blake3'), CODEC_RAW, pseudoRandom(100, 1))
    assert.equal(await new ContentRouting({ libp2p: c }).provide(cid), true)
    await a.dial(b.getMultiaddrs()[0]!)
    await dhtPeers(a, b)
    // whatever the DHT's own traffic connected, A now has no connection to C: only a lookup can bring it back
    await a.hangUp(c.peerId)
    const routing = new ContentRouting({ libp2p: a })
    t.after(() => { routing.stop() })
    const found = await routing.connectProviders(cid)
    assert.deepEqual(found.map(String), [c.peerId.toString()])
    assert.ok(a.getConnections(c.peerId).length > 0, 'dialled')
    // a root nobody provides: nothing found, nothing dialled, no error
    const nobody = cidOf(await getHasher('blake3'), CODEC_RAW, pseudoRandom(100, 2))
    assert.deepEqual(await routing.connectProviders(nobody, AbortSignal.timeout(5_000)), [])
    // the key is the same for every node, a SHA-256 key whatever the root's hash, and not the root itself
    assert.ok(routingKey(cid).equals(routingKey(cid)))
    assert.equal(routingKey(cid).multihash.code, 0x12)
    assert.ok(!routingKey(cid).equals(cid))
  })

  it('provides the newest roots up to its bound, and a lone node provides nothing without waiting', async t => {
    const h = await getHasher('blake3')
    const roots = [1, 2, 3].map(i => cidOf(h, CODEC_RAW, pseudoRandom(10, i)))
    const lone = await host(t, 'server')
    const alone = new ContentRouting({ libp2p: lone })
    t.after(() => { alone.stop() })
    assert.equal(await alone.provideAll(roots), 0, 'nobody to tell')
    const b = await host(t, 'server')
    const c = await host(t, 'server')
    await c.dial(b.getMultiaddrs()[0]!)
    await dhtPeers(c, b)
    const routing = new ContentRouting({ libp2p: c }, { maxProvidedRoots: 2 })
    t.after(() => { routing.stop() })
    assert.equal(await routing.provideAll(roots), 2)
    // B holds records for the two newest roots (the end of the list), not the oldest
    const finder = new ContentRouting({ libp2p: b })
    t.after(() => { finder.stop() })
    assert.deepEqual((await finder.connectProviders(roots[2]!)).map(String), [c.peerId.toString()])
    assert.deepEqual((await finder.connectProviders(roots[1]!)).map(String), [c.peerId.toString()])
    assert.deepEqual(await finder.connectProviders(roots[0]!, AbortSignal.timeout(5_000)), [])
  })

  it('returns soon after a provider is connected, without waiting for a DHT peer that never answers', async t => {
    const b = await host(t, 'server')
    const c = await host(t, 'server')
    const a = await host(t, 'server')
    const cid = cidOf(await getHasher('blake3'), CODEC_RAW, pseudoRandom(100, 4))
    const key = Buffer.from(routingKey(cid).multihash.bytes)
    // S speaks the DHT protocol and never answers: a query waits for it until kad-dht's request timeout (5 s at least)
    const s = await host(t, 'off')
    let askedForKey = false
    await s.handle(DHT_PROTOCOL, async (stream: Stream) => {
      let got = Buffer.alloc(0)
      try {
        for await (const chunk of stream) {
          got = Buffer.concat([got, chunk.subarray()])
          if (got.includes(key)) askedForKey = true
        }
      } catch {}
    })
    await c.dial(b.getMultiaddrs()[0]!)
    await dhtPeers(c, b)
    assert.equal(await new ContentRouting({ libp2p: c }).provide(cid), true)
    await a.dial(b.getMultiaddrs()[0]!)
    await a.dial(s.getMultiaddrs()[0]!)
    await dhtPeers(a, b)
    const table = (a.services.dht as { routingTable: { find: (p: Libp2p['peerId']) => Promise<unknown> } }).routingTable
    await waitFor(async () => await table.find(s.peerId), { what: 'S in the routing table' })
    await a.hangUp(c.peerId)
    // the peers whose requests failed during A's lookups (kad-dht's query events, as connectProviders pulls them)
    const failed: string[] = []
    type Events = AsyncIterable<{ name: string, from?: Libp2p['peerId'] }>
    const dht = a.services.dht as { findProviders: (key: unknown, options?: unknown) => Events }
    const findProviders = dht.findProviders.bind(dht)
    dht.findProviders = (k, options) => (async function * () {
      for await (const e of findProviders(k, options)) {
        if (e.name === 'QUERY_ERROR' && e.from !== undefined) failed.push(e.from.toString())
        yield e
      }
    })()
    const routing = new ContentRouting({ libp2p: a })
    t.after(() => { routing.stop() })
    const found = await routing.connectProviders(cid)
    assert.deepEqual(found.map(String), [c.peerId.toString()])
    await waitFor(() => askedForKey, { what: 'S asked for the key' })
    assert.ok(!failed.includes(s.peerId.toString()), 'the lookup waited for the silent peer\'s request to time out')
  })

  it('fetches a file held by a node it was never told about: the DHT introduces them', async t => {
    const b = await node(t, { dht: 'server' })
    const bAddr = b.libp2p.getMultiaddrs()[0]!.toString()
    const c = await node(t, { dht: 'server', bootstrap: [bAddr] })
    const content = pseudoRandom(300_000, 3)
    const { cid } = await importBytes(c.store, content, { pin: true })
    assert.equal(await new ContentRouting({ libp2p: c.libp2p }).provide(cid), true)
    // A knows B only (no peer exchange, no mDNS): C's address can come to it from the DHT alone
    const a = await node(t, { dht: 'client', bootstrap: [bAddr] })
    const r = await a.fetch(cid)
    assert.ok((r.sources[c.libp2p.peerId.toString()] ?? 0) > 0, `sources ${JSON.stringify(r.sources)}`)
    if (r.routed !== undefined) assert.deepEqual(r.routed, [c.libp2p.peerId.toString()])
    assert.deepEqual(Buffer.from(await collect(a.cat(cid))), Buffer.from(content))
  })

  it('provides its roots again when its addresses gain one: a home that reserved a relay slot after it provided', async t => {
    const d = await host(t, 'server')
    const relay = await host(t, 'server', 'server')
    const home = await host(t, 'client', 'client')
    const cid = cidOf(await getHasher('blake3'), CODEC_RAW, pseudoRandom(100, 5))
    await home.dial(d.getMultiaddrs()[0]!)
    await dhtPeers(home, d)
    const routing = new ContentRouting({ libp2p: home })
    routing.start()
    t.after(() => { routing.stop() })
    assert.equal(await routing.provide(cid), true)
    assert.ok(!home.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 'no relay slot yet')
    assert.equal(routing.reprovideRounds, 0)
    // D holds the record, with the addresses of that moment, and goes away: only a new provide can tell anyone
    await home.hangUp(d.peerId)
    await d.stop()
    // the home reserves a slot on the relay it now connects to: its addresses gain the circuit one
    await home.dial(relay.getMultiaddrs()[0]!)
    await waitFor(() => home.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), { what: 'a relay reservation' })
    await waitFor(() => routing.reprovideRounds > 0, { what: 'the roots provided again' })
    // a finder that knows the relay alone: the relay holds the new record, the home at its relay slot
    const finder = await host(t, 'client')
    await finder.dial(relay.getMultiaddrs()[0]!)
    await dhtPeers(finder, relay)
    const dht = finder.services.dht as { findProviders: (key: unknown, options?: unknown) => AsyncIterable<{ name: string, providers?: Array<{ id: Libp2p['peerId'], multiaddrs: unknown[] }> }> }
    const atRelay = async (): Promise<boolean> => {
      for await (const e of dht.findProviders(routingKey(cid), { signal: AbortSignal.timeout(5000) })) {
        for (const p of e.providers ?? []) if (p.id.equals(home.peerId) && p.multiaddrs.some(a => String(a).includes('/p2p-circuit'))) return true
      }
      return false
    }
    await waitFor(async () => await atRelay().catch(() => false), { what: 'the home listed at its relay address', intervalMs: 200 })
    // and the lookup dials it there (or wherever it is reachable now)
    await finder.hangUp(home.peerId).catch(() => {})
    const lookup = new ContentRouting({ libp2p: finder })
    t.after(() => { lookup.stop() })
    assert.deepEqual((await lookup.connectProviders(cid)).map(String), [home.peerId.toString()])
  })

  it("with provideFiles, provides the roots inside a pinned directory, within the node's bound", async t => {
    const store = tempStore(t)
    const tree = (files: Record<string, Uint8Array>): string => {
      const dir = tempDir(t)
      for (const [name, bytes] of Object.entries(files)) {
        mkdirSync(join(dir, name, '..'), { recursive: true })
        writeFileSync(join(dir, name), bytes)
      }
      return dir
    }
    const docs = await importPath(store, tree({ 'a.txt': pseudoRandom(500, 1), 'sub/b.txt': pseudoRandom(500, 2) }))
    // breadth first, in name order: a.txt, sub, then sub/b.txt; a file has nothing inside it
    const inner = await innerRoots(store, docs.cid, 10)
    assert.equal(inner.length, 3)
    assert.deepEqual((await innerRoots(store, docs.cid, 2)).map(String), inner.slice(0, 2).map(String))
    assert.deepEqual(await innerRoots(store, inner[0]!, 10), [])
    const b = await host(t, 'server')
    const c = await host(t, 'server')
    await c.dial(b.getMultiaddrs()[0]!)
    await dhtPeers(c, b)
    // three keys at most: the pinned root, a.txt and sub; sub/b.txt is past the bound
    const routing = new ContentRouting({ libp2p: c, store }, { provideFiles: true, maxProvidedRoots: 3 })
    t.after(() => { routing.stop() })
    assert.equal(await routing.provideAll([docs.cid]), 3)
    const finder = new ContentRouting({ libp2p: b })
    t.after(() => { finder.stop() })
    assert.deepEqual((await finder.connectProviders(inner[0]!)).map(String), [c.peerId.toString()])
    assert.deepEqual((await finder.connectProviders(inner[1]!)).map(String), [c.peerId.toString()])
    assert.deepEqual(await finder.connectProviders(inner[2]!, AbortSignal.timeout(5_000)), [])
    // a root pinned later: it and the file inside it are provided as it is pinned
    const notes = await importPath(store, tree({ 'notice.txt': pseudoRandom(700, 3) }))
    assert.equal(await routing.provide(notes.cid), true)
    const [notice] = await innerRoots(store, notes.cid, 10)
    assert.deepEqual((await finder.connectProviders(notice!)).map(String), [c.peerId.toString()])
    // without provideFiles only the roots are provided
    const plain = new ContentRouting({ libp2p: c, store })
    t.after(() => { plain.stop() })
    const other = await importPath(store, tree({ 'c.txt': pseudoRandom(600, 4) }))
    assert.equal(await plain.provideAll([other.cid]), 1)
    const [file] = await innerRoots(store, other.cid, 10)
    assert.deepEqual(await finder.connectProviders(file!, AbortSignal.timeout(5_000)), [])
  })
})
