import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { equals } from 'multiformats/bytes'
import { cidOf } from '../../../src/dag/cid.js'
import { CODEC_DAG_CBOR, CODEC_RAW } from '../../../src/dag/constants.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { createHost } from '../../../src/node/host.js'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import type { Block } from '../../../src/store/interface.js'
import { BlockChannel } from '../../../src/sync/exchange/channel.js'
import { BLOCKS_PROTOCOL_V1, BLOCKS_PROTOCOLS, MAX_MESSAGE_BYTES } from '../../../src/sync/exchange/constants.js'
import { readFrames, sendFrame } from '../../../src/sync/exchange/framing.js'
import { decodeMessage, encodeMessage } from '../../../src/sync/exchange/wire.js'
import type { Requester } from '../../../src/sync/exchange/peer-requests.js'
import { tempDir } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

async function startNode (t: TestContext, bootstrap: string[] = [], uploadLimit?: number): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, uploadLimit })
  t.after(async () => await node.stop())
  return node
}

async function randomBlocks (n: number, size: number): Promise<Block[]> {
  const h = await getHasher('blake3')
  return Array.from({ length: n }, () => {
    const bytes = new Uint8Array(randomBytes(size))
    return { cid: cidOf(h, CODEC_RAW, bytes), bytes }
  })
}

/** A seeder holding `held` (uploading `uploadLimit` bytes a second at most) and a leecher connected to it. */
async function pair (t: TestContext, held: Block[], uploadLimit?: number): Promise<{ seeder: CmeshNode, leecher: CmeshNode }> {
  const seeder = await startNode(t, [], uploadLimit)
  await seeder.store.putMany(held)
  const leecher = await startNode(t, [seeder.addrs()[0]!])
  await waitFor(() => leecher.libp2p.getConnections(seeder.peerId).length > 0, { what: 'the leecher connected' })
  return { seeder, leecher }
}

/** Streams of the block protocol the seeder has open from the leecher. */
function blockStreams (seeder: CmeshNode, leecher: CmeshNode): number {
  return seeder.libp2p.getConnections(leecher.peerId).flatMap(c => c.streams).filter(s => BLOCKS_PROTOCOLS.includes(s.protocol ?? '')).length
}

function requester (leecher: CmeshNode, faults: { ignored: number, protocol: number }): Requester {
  return { libp2p: leecher.libp2p, ignoredCancel: () => { faults.ignored++ }, protocolError: () => { faults.protocol++ } }
}

const sum = (blocks: Block[]): number => blocks.reduce((n, b) => n + b.bytes.length, 0)

/** What an onBlocks that keeps blocks does: their bytes are valid only until it settles (RequestOptions.onBlocks). */
const own = (blocks: Block[]): Block[] => blocks.map(b => ({ cid: b.cid, bytes: b.bytes.slice() }))

describe('a block channel: requests pipelined on one stream per peer', () => {
  it('answers concurrent requests on one stream, each with its own blocks and missing, blocks handed on as they come', async t => {
    const held = await randomBlocks(24, 100_000)
    const absent = await randomBlocks(1, 10)
    const { seeder, leecher } = await pair(t, held)
    const source = leecher.blocks.source(seeder.peerId, seeder.peerId.toString())
    const handed: Block[][] = [[], [], []]
    let wire = 0
    const asks = [held.slice(0, 8), [...held.slice(8, 16), absent[0]!.cid], held.slice(16)]
    const answers = await Promise.all(asks.map(async (ask, i) => await source.request(ask.map(b => 'cid' in b ? b.cid : b), {
      onBlocks: async (blocks, wireBytes) => {
        handed[i]!.push(...own(blocks))
        wire += wireBytes
      }
    })))
    for (let i = 0; i < 3; i++) {
      const want = held.slice(i * 8, i * 8 + 8)
      const got = [...handed[i]!, ...answers[i]!.blocks]
      assert.deepEqual(got.map(b => b.cid.toString()).sort(), want.map(b => b.cid.toString()).sort(), `request ${i} got its own blocks`)
      for (const b of got) assert.deepEqual(b.bytes, want.find(w => w.cid.equals(b.cid))!.bytes)
    }
    assert.deepEqual(answers[1]!.missing.map(String), [absent[0]!.cid.toString()])
    // what crossed the network is counted, with the block bytes in it
    assert.ok(wire + answers.reduce((n, a) => n + (a.wireBytes ?? 0), 0) > sum(held))
    // the three requests and the answers went over a single stream, still open for the next request
    assert.equal(blockStreams(seeder, leecher), 1)
    const again = await source.request([held[0]!.cid], {})
    assert.deepEqual(again.blocks.map(b => b.cid.toString()), [held[0]!.cid.toString()])
    assert.equal(blockStreams(seeder, leecher), 1)
  })

  it("a source's request for a block its channel already waits for goes over a stream of its own, and both requests get it", async t => {
    const held = await randomBlocks(3, 50_000)
    const { seeder, leecher } = await pair(t, held)
    const source = leecher.blocks.source(seeder.peerId, seeder.peerId.toString())
    const ask = held.map(b => b.cid)
    const got: Block[][] = [[], []]
    // the first request is on the channel as it is made: the second, for the same blocks, cannot share the stream
    const answers = await Promise.all([0, 1].map(async i => await source.request(ask, { onBlocks: async blocks => { got[i]!.push(...own(blocks)) } })))
    for (const i of [0, 1]) {
      const all = [...got[i]!, ...answers[i]!.blocks]
      assert.deepEqual(all.map(b => b.cid.toString()).sort(), ask.map(String).sort(), `request ${i} got every block`)
      for (const b of all) assert.deepEqual(b.bytes, held.find(h => h.cid.equals(b.cid))!.bytes)
    }
  })

  it('a cancelled request takes its blocks back and the stream goes on; a request for a block already asked for waits elsewhere', async t => {
    const held = await randomBlocks(40, 200_000)
    const { seeder, leecher } = await pair(t, held)
    const faults = { ignored: 0, protocol: 0 }
    const channel = new BlockChannel(requester(leecher, faults), seeder.peerId, seeder.peerId.toString())
    t.after(() => { channel.close() })
    const stop = new AbortController()
    const first = channel.request(held.slice(0, 20).map(b => b.cid), { signal: stop.signal })
    assert.equal(channel.size, 1)
    // a block the channel already waits for cannot be told apart on the stream: the channel refuses it
    assert.equal(channel.accepts([held[3]!.cid]), false)
    assert.equal(channel.accepts([held[30]!.cid]), true)
    const second = channel.request(held.slice(20).map(b => b.cid), {})
    stop.abort()
    await assert.rejects(first)
    const answer = await second
    assert.equal(sum(answer.blocks), sum(held.slice(20)))
    assert.deepEqual(answer.missing, [])
    // blocks of the cancelled request that were already on their way are not the seeder's fault
    assert.equal(faults.ignored, 0)
    assert.equal(faults.protocol, 0)
    assert.equal(channel.size, 0)
    assert.equal(channel.accepts([held[3]!.cid]), true)
  })

  it('cancelled requests still queued at the server are dropped at once: the requester is not struck for the requests it sends next', async t => {
    // a slow seeder: the first answer takes a while, and the requests behind it wait in its queue
    const held = await randomBlocks(39, 50_000)
    const { seeder, leecher } = await pair(t, held, 200_000)
    const channel = new BlockChannel(requester(leecher, { ignored: 0, protocol: 0 }), seeder.peerId, seeder.peerId.toString())
    t.after(() => { channel.close() })
    // 500 KB at 200 KB/s: the seeder is busy with it while the requests behind it wait in its queue; they are
    // cancelled once its first blocks are here (so their wants are on the stream before their cancels)
    let stops: Array<{ stop: AbortController, request: Promise<unknown> }> = []
    const first = channel.request(held.slice(0, 10).map(b => b.cid), { onBlocks: async () => { for (const s of stops) s.stop.abort() } })
    stops = held.slice(10, 25).map(b => {
      const stop = new AbortController()
      const request = channel.request([b.cid], { signal: stop.signal })
      request.catch(() => {})
      return { stop, request }
    })
    for (const s of stops) await assert.rejects(s.request)
    // 15 cancelled and 14 new: more than the 16 pending requests the flood guard allows, unless the cancelled
    // ones left the seeder's queue when their cancels came
    const next = await Promise.all(held.slice(25).map(async b => await channel.request([b.cid], {})))
    assert.equal((await first).missing.length, 0)
    assert.equal(next.reduce((n, a) => n + a.blocks.length, 0), 14)
    assert.equal(seeder.blocks.flood.strikes(leecher.peerId.toString()), 0)
  })

  it('a request waiting its turn behind another hears that the peer is answering (it is not stalled)', async t => {
    // 1.5 MB: more than one message (about 1 MiB each), at 1 MB/s
    const held = await randomBlocks(11, 150_000)
    const { seeder, leecher } = await pair(t, held, 1_000_000)
    const channel = new BlockChannel(requester(leecher, { ignored: 0, protocol: 0 }), seeder.peerId, seeder.peerId.toString())
    t.after(() => { channel.close() })
    let heard = 0
    const first = channel.request(held.slice(0, 10).map(b => b.cid), {})
    const second = channel.request([held[10]!.cid], { onProgress: () => { heard++ } })
    const [a, b] = await Promise.all([first, second])
    assert.equal(sum(a.blocks) + sum(b.blocks), sum(held))
    // the seeder answers the first request in several messages while the second waits behind it
    assert.ok(heard >= 1, `heard ${heard} times`)
  })

  it('reads blocks messages into pooled buffers: raw leaves are lent to onBlocks, interior nodes and answers get bytes of their own', async t => {
    // each request's blocks fit one message, and one pooled buffer
    const raw = await randomBlocks(10, 100_000)
    const h = await getHasher('blake3')
    const nodeBytes = dagCbor.encode({ pad: new Uint8Array(randomBytes(100_000)) })
    const node = { cid: cidOf(h, CODEC_DAG_CBOR, nodeBytes), bytes: nodeBytes }
    const { seeder, leecher } = await pair(t, [...raw, node])
    const faults = { ignored: 0, protocol: 0 }
    const channel = new BlockChannel(requester(leecher, faults), seeder.peerId, seeder.peerId.toString())
    t.after(() => { channel.close() })
    const original = (b: Block): Uint8Array => [...raw, node].find(o => o.cid.equals(b.cid))!.bytes
    // an onBlocks that (wrongly) keeps the views it is handed, and checks them while it may
    const kept: Block[] = []
    const lent = await channel.request([node.cid, ...raw.slice(0, 5).map(b => b.cid)], {
      onBlocks: async blocks => {
        for (const b of blocks) assert.deepEqual(b.bytes, original(b), 'valid while onBlocks runs')
        kept.push(...blocks)
      }
    })
    assert.equal(kept.length + lent.blocks.length, 6)
    // once the request settled, its frames went back to the pool: the raw leaves' views read something else now
    for (const b of kept.filter(b => b.cid.code === CODEC_RAW)) assert.ok(!equals(b.bytes, original(b)), `${b.cid} was lent`)
    // the interior node (decoded and linked to later) was copied out of the frame
    assert.ok(equals(kept.find(b => b.cid.equals(node.cid))!.bytes, node.bytes))
    // an answer's blocks (no onBlocks) are the caller's: later messages read into the same buffers leave them be
    const answer = await channel.request(raw.slice(0, 5).map(b => b.cid), {})
    await channel.request(raw.slice(5).map(b => b.cid), { onBlocks: async () => {} })
    assert.equal(answer.blocks.length, 5)
    for (const b of answer.blocks) assert.ok(equals(b.bytes, original(b)), `${b.cid} kept its bytes`)
    assert.equal(faults.protocol, 0)
  })

  it('a /cmesh/blocks/1.0.0 peer\'s CBOR blocks read into a pooled frame are the fetcher\'s to keep, CIDs included', async t => {
    const raw = await randomBlocks(6, 100_000)
    // a peer of the first protocol version: it answers each want with a DAG-CBOR blocks message
    const old = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, banned: new Set() })
    t.after(async () => await old.stop())
    await old.handle(BLOCKS_PROTOCOL_V1, async stream => {
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
        const m = decodeMessage(frame)
        if (m.t !== 'want') continue
        await sendFrame(stream, encodeMessage({ t: 'blocks', blocks: raw.filter(b => m.cids.some(c => c.equals(b.cid))) }))
      }
    })
    const leecher = await startNode(t)
    await leecher.libp2p.dial(old.getMultiaddrs()[0]!)
    const faults = { ignored: 0, protocol: 0 }
    const channel = new BlockChannel(requester(leecher, faults), old.peerId, old.peerId.toString())
    t.after(() => { channel.close() })
    const kept: Block[] = []
    await channel.request(raw.slice(0, 3).map(b => b.cid), { onBlocks: async blocks => { kept.push(...blocks) } })
    await channel.request(raw.slice(3).map(b => b.cid), { onBlocks: async blocks => { kept.push(...blocks) } })
    assert.equal(kept.length, 6)
    // kept beyond onBlocks (the second message was read into the first one's buffer), and still whole: CBOR
    // decoding copies what it reads, so nothing of such a message is lent
    for (const b of kept) {
      const want = raw.find(r => r.cid.equals(b.cid))
      assert.ok(want !== undefined && equals(b.bytes, want.bytes))
      assert.equal(b.cid.multihash.digest.buffer.byteLength < 1024, true, 'the CID is not a view of the frame')
    }
    assert.equal(faults.protocol, 0)
  })

  it('taking back part of a request settles it with what came; closing fails what waits, and the next request opens a new stream', async t => {
    const held = await randomBlocks(16, 100_000)
    const { seeder, leecher } = await pair(t, held)
    const faults = { ignored: 0, protocol: 0 }
    const channel = new BlockChannel(requester(leecher, faults), seeder.peerId, seeder.peerId.toString())
    t.after(() => { channel.close() })
    let takeBack: ((cids: typeof held[0]['cid'][]) => void) | undefined
    const partial = await channel.request(held.slice(0, 8).map(b => b.cid), {
      onCancel: cancel => { takeBack = cancel },
      onBlocks: async () => { takeBack!(held.slice(0, 8).map(b => b.cid)) }
    })
    // whatever came before the rest was taken back is neither missing nor an error
    assert.deepEqual(partial.missing, [])
    const waiting = channel.request(held.slice(8).map(b => b.cid), {})
    channel.close()
    await assert.rejects(waiting, /closed/)
    assert.equal(channel.size, 0)
    const after = await channel.request(held.slice(8).map(b => b.cid), {})
    assert.equal(sum(after.blocks), sum(held.slice(8)))
    assert.equal(faults.protocol, 0)
    channel.close()
    await waitFor(() => blockStreams(seeder, leecher) === 0, { what: 'the idle channel closed its stream' })
  })
})
