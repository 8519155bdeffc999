import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { describe, it, type TestContext } from 'node:test'
import { collect, pseudoRandom, tempDir } from '../helpers/temp.js'
import { CODEC_DAG_PB } from '../../src/dag/constants.js'
import { resolvePath } from '../../src/dag/exporter.js'
import { decodeNode } from '../../src/dag/nodes.js'
import { verifyStore } from '../../src/dag/verify.js'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { BLOCKS_PROTOCOL, BLOCKS_PROTOCOL_V1, MAX_MESSAGE_BYTES } from '../../src/sync/exchange/constants.js'
import { encodeFrame, readFrames } from '../../src/sync/exchange/framing.js'
import { decodeMessage, encodeMessage } from '../../src/sync/exchange/wire.js'
import { decompress } from '../../src/sync/exchange/compression.js'
import { decodePex, encodePex } from '../../src/sync/net/peer-exchange.js'
import { waitFor } from '../helpers/wait.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

async function startNode (t: TestContext, bootstrap: string[] = [], uploadLimit?: number, minPeers?: number): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, uploadLimit, minPeers })
  t.after(async () => await node.stop())
  return node
}

describe('nodes exchanging blocks over loopback', () => {
  it('keeps its peer id across restarts', async t => {
    const repo = join(tempDir(t), 'repo')
    const a = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    const id = a.peerId.toString()
    await a.stop()
    const b = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    t.after(async () => await b.stop())
    assert.equal(b.peerId.toString(), id)
  })

  it('downloads a file from two peers at once, byte-identical', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(1_500_000, 61)
    writeFileSync(join(dir, 'f'), data)
    const a = await startNode(t)
    const b = await startNode(t)
    const { cid } = await a.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    await b.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    const c = await startNode(t, [a.addrs()[0]!, b.addrs()[0]!])
    const r = await c.fetch(cid, { batchSize: 32 })
    assert.deepEqual(await collect(c.cat(cid)), Buffer.from(data))
    await c.get(cid, join(dir, 'copy'))
    assert.deepEqual(readFileSync(join(dir, 'copy')), Buffer.from(data))
    assert.deepEqual(Object.keys(r.sources).sort(), [a.peerId.toString(), b.peerId.toString()].sort())
    const peers = await c.peers()
    assert.equal(peers.length, 2)
    assert.ok(peers.every(p => p.addrs[0]!.startsWith('/ip4/127.0.0.1/tcp/')))
    const servedByA = (await a.peers()).find(p => p.peerId === c.peerId.toString())
    assert.ok(servedByA !== undefined && servedByA.blocksServed > 0)
  })

  it('fetches, verifies and exports a UnixFS tree another node wrote', async t => {
    const dir = tempDir(t)
    const src = join(dir, 'tree')
    mkdirSync(join(src, 'sub'), { recursive: true })
    const data = pseudoRandom(300_000, 62)
    writeFileSync(join(src, 'sub', 'big.bin'), data)
    writeFileSync(join(src, 'a.txt'), 'a\n')
    symlinkSync('sub/big.bin', join(src, 'link'))
    const a = await startNode(t)
    const { cid, blocks } = await a.add(src, { format: 'unixfs', chunker: SMALL_CHUNKS })
    assert.equal(cid.code, CODEC_DAG_PB)
    const b = await startNode(t, [a.addrs()[0]!])
    const r = await b.fetch(cid, { batchSize: 32 })
    assert.equal(r.fetchedBlocks, blocks)
    const verified = await verifyStore(b.store)
    assert.ok(verified.ok && verified.blocks === blocks, JSON.stringify(verified))
    const big = await resolvePath(b.store, cid, 'sub/big.bin')
    assert.deepEqual(await collect(b.cat(big.cid)), Buffer.from(data))
    await b.get(cid, join(dir, 'copy'))
    assert.deepEqual(readFileSync(join(dir, 'copy', 'sub', 'big.bin')), Buffer.from(data))
    assert.equal(readFileSync(join(dir, 'copy', 'a.txt'), 'utf8'), 'a\n')
    assert.equal(readlinkSync(join(dir, 'copy', 'link')), 'sub/big.bin')
  })

  it("lists a peer's announced addresses, not the ephemeral port its inbound connection came from", async t => {
    const a = await startNode(t)
    const b = await startNode(t, [a.addrs()[0]!])
    const bare = (addr: string): string => addr.replace(/\/p2p\/.*$/, '')
    const listening = b.addrs().map(bare)
    await waitFor(() => a.libp2p.getConnections(b.peerId).length > 0, { what: 'b connected to a' })
    const inbound = a.libp2p.getConnections(b.peerId).map(c => bare(c.remoteAddr.toString()))
    assert.ok(inbound.length > 0 && inbound.every(addr => !listening.includes(addr)), 'b reached a from a port it does not listen on')
    await waitFor(async () => (await a.peers()).find(p => p.peerId === b.peerId.toString())?.addrs.length === listening.length, { what: "b's addresses at a" })
    const seen = (await a.peers()).find(p => p.peerId === b.peerId.toString())!
    assert.deepEqual(seen.addrs.map(bare).sort(), listening.sort())
  })

  it('stores the blocks of a long answer as its messages arrive, before the whole request is answered', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(1_000_000, 66)
    writeFileSync(join(dir, 'f'), data)
    // a peer limited to 1 MB/s answers one request for every leaf in many messages
    const a = await startNode(t, [], 1_000_000)
    const { cid, blocks } = await a.add(join(dir, 'f'), { chunker: SMALL_CHUNKS, fileFanout: 4096 })
    const b = await startNode(t, [a.addrs()[0]!])
    const counts: number[] = []
    const r = await b.fetch(cid, {
      perSource: 1,
      batchSize: 4096,
      requestBytes: 16 * 1024 * 1024,
      onProgress: e => { if (e.type === 'fetch:blocks') counts.push(e.blocks) }
    })
    assert.equal(r.fetchedBlocks, blocks)
    // the root, then the leaves in several steps: they could be passed on to others while the rest came
    assert.ok(counts.length >= 4, `stored in ${counts.length} steps: ${counts.join(' ')}`)
    assert.ok(counts[1]! < blocks, `the first message held ${counts[1]} of ${blocks} blocks`)
    assert.deepEqual(await collect(b.cat(cid)), Buffer.from(data))
  })

  it('disconnects a peer that sends a corrupted block and completes from the others', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(400_000, 62)
    writeFileSync(join(dir, 'f'), data)
    const honest = await startNode(t)
    const liar = await startNode(t)
    const { cid } = await honest.add(join(dir, 'f'), { chunker: SMALL_CHUNKS, fileFanout: 1024 })
    await liar.add(join(dir, 'f'), { chunker: SMALL_CHUNKS, fileFanout: 1024, pin: false })
    const root = decodeNode(cid, liar.store.getSync(cid))
    assert.ok(root.type === 'file')
    for (const link of root.links) {
      const bytes = Uint8Array.from(liar.store.getSync(link.cid))
      bytes[1] = bytes[1]! ^ 0x40
      await liar.store.delete(link.cid)
      await liar.store.put(link.cid, bytes)
    }
    const c = await startNode(t, [liar.addrs()[0]!, honest.addrs()[0]!])
    const bad: string[] = []
    await c.fetch(cid, { batchSize: 16, onProgress: e => { if (e.type === 'fetch:bad-block') bad.push(e.source) } })
    assert.deepEqual(await collect(c.cat(cid)), Buffer.from(data))
    assert.deepEqual(bad, [liar.peerId.toString()])
    assert.ok(c.blocks.peer(liar.peerId.toString()).score < 0)
    await waitFor(() => c.libp2p.getConnections(liar.peerId).length === 0, { what: 'the liar to be disconnected' })
    assert.equal(c.libp2p.getConnections(liar.peerId).length, 0, 'the liar was disconnected')
    await assert.rejects(c.dial(liar.addrs()[0]!), 'we do not dial it again')
    // it may try to come back: the connection is refused once its identity is known
    await liar.dial(c.addrs()[0]!).catch(() => {})
    await waitFor(() => c.libp2p.getConnections(liar.peerId).length === 0, { what: 'the liar\'s new connection to be closed' })
    assert.equal(c.libp2p.getConnections(liar.peerId).length, 0, 'and is not let back in')
  })

  it('gives a slow peer little work and hands its last requests to a fast one (endgame)', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(2_400_000, 64)
    writeFileSync(join(dir, 'f'), data)
    const fast = await startNode(t)
    const slow = await startNode(t, [], 20_000) // 20 kB/s after its burst: in effect a stalling peer
    const { cid } = await fast.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    await slow.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    const c = await startNode(t, [slow.addrs()[0]!, fast.addrs()[0]!])
    const r = await c.fetch(cid, { batchSize: 64 })
    assert.deepEqual(await collect(c.cat(cid)), Buffer.from(data))
    const fromSlow = r.sources[slow.peerId.toString()] ?? 0
    const fromFast = r.sources[fast.peerId.toString()] ?? 0
    assert.ok(fromFast > 4 * fromSlow, `fast ${fromFast} bytes, slow ${fromSlow} bytes`)
    // the fast peer holds everything: it takes over the far half of a late request (or races a stalled one)
    assert.ok(r.stolen + r.duplicates > 0, 'the endgame moved an outstanding request\'s blocks to the fast peer')
  })

  it('completes while 20 peers join and leave during the download', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(3_000_000, 65)
    writeFileSync(join(dir, 'f'), data)
    const slow = await startNode(t, [], 300_000) // the only peer at the start, and a slow one
    const { cid } = await slow.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    const c = await startNode(t, [slow.addrs()[0]!])
    const joiners: CmeshNode[] = []
    for (let i = 0; i < 20; i++) {
      // the joiners meet the downloader only: peer exchange among 22 nodes is not what this test is about
      const j = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, uploadLimit: 200_000, peerExchange: false })
      t.after(async () => await j.stop())
      await j.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
      joiners.push(j)
    }
    const delivered = new Set<string>()
    let done = false
    const download = c.fetch(cid, { batchSize: 16, onProgress: e => { if (e.type === 'fetch:blocks') delivered.add(e.source) } })
      .finally(() => { done = true })
    // peers join one by one; every other one leaves again once it has delivered blocks (or the download is over)
    for (const [i, j] of joiners.entries()) {
      // libp2p accepts at most 5 new connections a second from one address: a refused dial is tried again
      for (let attempt = 0; ; attempt++) {
        try {
          await j.dial(c.addrs()[0]!)
          break
        } catch (err) {
          if (attempt >= 10) throw err
          await delay(300) // back-off before the next attempt, not a wait for an event
        }
      }
      const id = j.peerId.toString()
      if (i % 2 === 1) {
        await waitFor(() => delivered.has(id) || done, { what: `joiner ${i} to deliver blocks` })
        await j.libp2p.hangUp(c.peerId)
      }
    }
    const r = await download
    assert.deepEqual(await collect(c.cat(cid)), Buffer.from(data))
    const joinedAndServed = joiners.filter(j => (r.sources[j.peerId.toString()] ?? 0) > 0).length
    assert.ok(joinedAndServed >= 3, `${joinedAndServed} of the peers that joined mid-download served blocks`)
  })

  it('finds the rest of the neighbourhood from one bootstrap address (peer exchange)', async t => {
    const hub = await startNode(t)
    const others: CmeshNode[] = []
    for (let i = 0; i < 3; i++) others.push(await startNode(t, [hub.addrs()[0]!]))
    const newcomer = await startNode(t, [hub.addrs()[0]!])
    const want = new Set([hub, ...others].map(n => n.peerId.toString()))
    await waitFor(() => newcomer.libp2p.getPeers().length >= want.size, { what: 'peer exchange to connect the newcomer to everyone' })
    assert.deepEqual(new Set(newcomer.libp2p.getPeers().map(String)), want)
    assert.throws(() => decodePex(new TextEncoder().encode('junk')), { code: 'ERR_PROTOCOL' })
    assert.throws(() => decodePex(encodePex([{ peerId: 'not-a-peer', addrs: [] }])), { code: 'ERR_PROTOCOL' })
  })

  it('with rarest-first on, asks peers what they hold and completes from a partial and a full peer', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(300_000, 66)
    writeFileSync(join(dir, 'f'), data)
    const full = await startNode(t)
    const partial = await startNode(t)
    const { cid } = await full.add(join(dir, 'f'), { chunker: SMALL_CHUNKS, fileFanout: 1024 })
    await partial.add(join(dir, 'f'), { chunker: SMALL_CHUNKS, fileFanout: 1024, pin: false })
    const root = decodeNode(cid, partial.store.getSync(cid))
    assert.ok(root.type === 'file')
    for (const link of root.links.slice(0, 40)) await partial.store.delete(link.cid)
    const c = await createNode({
      repo: join(tempDir(t), 'repo'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      rarestFirst: true,
      bootstrap: [partial.addrs()[0]!, full.addrs()[0]!]
    })
    t.after(async () => await c.stop())
    const r = await c.fetch(cid, { batchSize: 16 })
    assert.deepEqual(await collect(c.cat(cid)), Buffer.from(data))
    assert.ok((r.sources[partial.peerId.toString()] ?? 0) > 0 && (r.sources[full.peerId.toString()] ?? 0) > 0, JSON.stringify(r.sources))
  })

  it('survives malformed and oversized protocol messages and keeps serving', async t => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'f'), pseudoRandom(20_000, 63))
    const server = await startNode(t)
    const { cid } = await server.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    const attacker = await startNode(t, [server.addrs()[0]!])
    for (const payload of [
      encodeFrame(new Uint8Array([1, 2, 3])),
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f),
      encodeFrame(new TextEncoder().encode('{"t":"want"}'))
    ]) {
      const stream = await attacker.libp2p.dialProtocol(server.peerId, BLOCKS_PROTOCOL)
      stream.send(payload)
      const answer = await collect(stream as unknown as AsyncIterable<Uint8Array>).catch(() => new Uint8Array(0))
      assert.equal(answer.length, 0, 'no answer to garbage')
    }
    assert.ok(server.blocks.peer(attacker.peerId.toString()).score < 0)
    const fetched = await attacker.fetch(cid)
    assert.ok(fetched.fetchedBlocks > 0, 'the server still serves after the attack')
  })

  it('answers /cmesh/blocks/1.1.0 with binary blocks messages and a 1.0.0 peer with DAG-CBOR ones, the same blocks', async t => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'f'), pseudoRandom(50_000, 64))
    const server = await startNode(t)
    const { cid } = await server.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    const client = await startNode(t, [server.addrs()[0]!])
    const answers: Record<string, { first: number, blocks: Array<{ cid: string, size: number }> }> = {}
    for (const protocol of [BLOCKS_PROTOCOL, BLOCKS_PROTOCOL_V1]) {
      const stream = await client.libp2p.dialProtocol(server.peerId, protocol)
      assert.equal(stream.protocol, protocol)
      stream.send(encodeFrame(encodeMessage({ t: 'want', cids: [cid], blocks: true })))
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
        // a small DAG node compresses: the blocks message is then the payload of a zblocks
        const outer = decodeMessage(frame)
        const plainBytes = outer.t === 'zblocks' ? await decompress(outer.alg, outer.data, outer.size) : frame
        const m = decodeMessage(plainBytes)
        assert.equal(m.t, 'blocks')
        if (m.t === 'blocks') answers[protocol] = { first: plainBytes[0]!, blocks: m.blocks.map(b => ({ cid: b.cid.toString(), size: b.bytes.length })) }
        break
      }
      stream.abort(new Error('done'))
    }
    assert.equal(answers[BLOCKS_PROTOCOL]?.first, 0, 'binary on 1.1.0')
    assert.ok((answers[BLOCKS_PROTOCOL_V1]?.first ?? 0) >= 0xa0 && (answers[BLOCKS_PROTOCOL_V1]?.first ?? 0) <= 0xbf, 'a DAG-CBOR map on 1.0.0')
    assert.deepEqual(answers[BLOCKS_PROTOCOL]?.blocks, answers[BLOCKS_PROTOCOL_V1]?.blocks)
    assert.equal(answers[BLOCKS_PROTOCOL]?.blocks[0]?.cid, cid.toString())
  })

  it('dials again the peers it lost when its connections drop', async t => {
    // the hub and the other node never redial (minPeers 0): whatever comes back, the isolated node dialled
    const hub = await startNode(t, [], undefined, 0)
    const other = await startNode(t, [hub.addrs()[0]!], undefined, 0)
    const lonely = await startNode(t, [hub.addrs()[0]!])
    const connectedToBoth = (): boolean => lonely.libp2p.getConnections(hub.peerId).length > 0 && lonely.libp2p.getConnections(other.peerId).length > 0
    await waitFor(connectedToBoth, { what: 'peer exchange to connect the node to both' })
    await hub.libp2p.hangUp(lonely.peerId)
    await other.libp2p.hangUp(lonely.peerId)
    await waitFor(connectedToBoth, { what: 'the isolated node to be connected to both again' })
    for (const peer of [hub, other]) assert.ok(lonely.libp2p.getConnections(peer.peerId).every(c => c.direction === 'outbound'), 'it dialled them itself')
  })

  it('a patient fetch that has begun waits for the rest to reach its neighbours; content nobody has fails at once', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(200_000, 71)
    writeFileSync(join(dir, 'f'), data)
    const seed = await startNode(t, [], undefined, 0)
    const { cid } = await seed.add(join(dir, 'f'), { chunker: SMALL_CHUNKS })
    // a neighbour still downloading: the root and half the leaves
    const partial = await startNode(t, [], undefined, 0)
    await partial.add(join(dir, 'f'), { chunker: SMALL_CHUNKS, pin: false })
    const leaves = [...partial.store.entries()].filter(b => b.cid.code === 0x55)
    for (const b of leaves.slice(0, leaves.length / 2)) await partial.store.delete(b.cid)
    const asker = await startNode(t, [partial.addrs()[0]!], undefined, 0)
    await assert.rejects(asker.fetch(cid), { code: 'ERR_FETCH_FAILED' }, 'an impatient fetch fails at once')
    const waiting = asker.fetch(cid, { patienceMs: 30_000 })
    await waitFor(() => asker.store.has(cid), { what: 'the patient fetch to have begun (its root from the partial neighbour)' })
    await seed.dial(asker.addrs()[0]!)
    const r = await waiting
    assert.ok((r.sources[seed.peerId.toString()] ?? 0) > 0, 'the rest came from the seed that connected')
    assert.deepEqual(await collect(asker.cat(cid)), Buffer.from(data))
    // nobody holds even the root: no waiting
    const { cid: unknown } = await startNode(t, [], undefined, 0).then(async n => await n.add(join(dir, 'f'), {
      chunker: {
        minSize: 512,
        avgSize: 2048,
        maxSize: 8192
      }
    }))
    // (had it waited, the signal would end it with ERR_ABORTED instead)
    await assert.rejects(asker.fetch(unknown, { patienceMs: 600_000, signal: AbortSignal.timeout(20_000) }), { code: 'ERR_FETCH_FAILED' })
    await assert.rejects(asker.fetch(cid, { patienceMs: -1 }), { code: 'ERR_INVALID_OPTION' })
  })

  it('starts without its bootstrap peer when told to, and connects once that peer comes up', async t => {
    const repo = join(tempDir(t), 'neighbour')
    const first = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    const addr = first.addrs()[0]!
    await first.stop()
    // a one-off command needs its peer: it fails clearly
    await assert.rejects(createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [addr] }))
    // a daemon starts anyway and keeps dialling
    const daemon = await createNode({
      repo: join(tempDir(t), 'daemon'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      bootstrap: [addr],
      bootstrapRequired: false
    })
    t.after(async () => await daemon.stop())
    assert.equal(daemon.libp2p.getPeers().length, 0)
    const port = addr.split('/')[4]!
    const back = await createNode({ repo, listen: [`/ip4/127.0.0.1/tcp/${port}`], mdns: false, minPeers: 0 })
    t.after(async () => await back.stop())
    await waitFor(() => daemon.libp2p.getConnections(back.peerId).length > 0, { what: 'the daemon to dial its bootstrap peer' })
    assert.equal(daemon.libp2p.getConnections(back.peerId)[0]?.direction, 'outbound', 'the daemon dialled its bootstrap peer when it came up')
  })

  it('ranks its peers without waiting for a ping that does not come back when told not to wait', async t => {
    const node = await startNode(t)
    const silent = await startNode(t, [node.addrs()[0]!])
    // the peer takes pings and never answers them
    const pings: Array<{ close: () => unknown, status: string }> = []
    await silent.libp2p.unhandle('/ipfs/ping/1.0.0')
    await silent.libp2p.handle('/ipfs/ping/1.0.0', stream => { pings.push(stream) })
    await waitFor(() => node.libp2p.getConnections(silent.peerId).length > 0, { what: 'the two to connect' })

    const ranked = await node.peers({ wait: false, pingTimeoutMs: 600_000 })
    const row = ranked.find(p => p.peerId === silent.peerId.toString())
    assert.ok(row !== undefined, 'the peer is ranked')
    assert.equal(row.rttMs, undefined, 'not measured yet')
    await waitFor(() => pings.length > 0, { what: 'the ping to reach the peer' })
    assert.equal(pings[0]!.status, 'open', 'the ping is still waiting for its answer')
    // waiting (the default) the same ping is what the answer waits for: it gives up at the timeout asked
    const waited = await node.peers({ pingTimeoutMs: 1 })
    assert.equal(waited.find(p => p.peerId === silent.peerId.toString())?.rttMs, undefined)
  })

  it('with bootstrapWait first, starts on the first bootstrap peer that answers while the others still dial', async t => {
    const peer = await startNode(t)
    // a bootstrap address that takes connections and never speaks: its dial hangs until the node gives it up
    const sockets: Socket[] = []
    const closed = new Set<Socket>()
    const silent = createServer(socket => {
      sockets.push(socket)
      socket.on('close', () => closed.add(socket)).on('error', () => {}).resume()
    })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    t.after(async () => {
      for (const s of sockets) s.destroy()
      await new Promise(resolve => silent.close(resolve))
    })
    const port = (silent.address() as { port: number }).port
    const node = await createNode({
      repo: join(tempDir(t), 'repo'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      minPeers: 0,
      bootstrap: [`/ip4/127.0.0.1/tcp/${port}`, peer.addrs()[0]!],
      bootstrapWait: 'first'
    })
    let stopped = false
    t.after(async () => { if (!stopped) await node.stop() })
    assert.equal(node.libp2p.getConnections(peer.peerId).length > 0, true, 'connected to the peer that answered')
    await waitFor(() => sockets.length > 0, { what: 'the dial of the silent address' })
    assert.equal(closed.size, 0, 'that dial still hangs: createNode did not wait for it (nor for its retries)')
    // stopping gives up the dial still hanging
    stopped = true
    await node.stop()
    await waitFor(() => closed.size === sockets.length, { what: 'the hanging dial to be closed' })

    // every bootstrap address failing still fails the start, as without it
    await assert.rejects(createNode({
      repo: join(tempDir(t), 'repo2'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      bootstrap: ['/ip4/127.0.0.1/tcp/1'],
      bootstrapWait: 'first'
    }))
  })
})
