import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { CID } from 'multiformats/cid'
import { cat } from '../../../src/dag/exporter.js'
import { importBytes } from '../../../src/dag/importer.js'
import { decodeNode } from '../../../src/dag/nodes.js'
import { fetchDag, type BlockSource } from '../../../src/sync/fetch/fetcher.js'
import { storeSource } from '../../../src/sync/fetch/store-source.js'
import { collect, pseudoRandom, tempStore } from '../../helpers/temp.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

describe('fetching a DAG from block sources', () => {
  it('fetches from several sources, verifies, stores and pins, and spreads the work', async t => {
    const data = pseudoRandom(400_000, 51)
    const a = tempStore(t)
    const b = tempStore(t)
    const { cid, blocks } = await importBytes(a, data, { chunker: SMALL_CHUNKS })
    await importBytes(b, data, { chunker: SMALL_CHUNKS })
    const local = tempStore(t)
    const events: string[] = []
    const r = await fetchDag(local, cid, [storeSource(a, 'a'), storeSource(b, 'b')], { batchSize: 16, onProgress: e => events.push(e.type) })
    assert.equal(r.fetchedBlocks, blocks)
    assert.ok((r.sources.a ?? 0) > 0 && (r.sources.b ?? 0) > 0, `both sources served: ${JSON.stringify(r.sources)}`)
    assert.ok(local.isPinned(cid))
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    assert.ok(events.includes('fetch:blocks'))
    // everything held: nothing is fetched again
    const again = await fetchDag(local, cid, [storeSource(a, 'a')])
    assert.equal(again.fetchedBlocks, 0)
  })

  it('copies what it keeps of blocks handed on as they come: a source may reuse their buffer once onBlocks settles', async t => {
    const data = pseudoRandom(200_000, 60)
    const seed = tempStore(t)
    const { cid, blocks } = await importBytes(seed, data, { chunker: SMALL_CHUNKS })
    // every block goes through one scratch buffer, overwritten by the next block (and wiped after the last) as a
    // pooled frame is: blocks this small are held by the fetcher until a batch is full, long after their onBlocks
    const scratch = new Uint8Array(64 * 1024)
    const reusing: BlockSource = {
      id: 'reusing',
      request: async (cids, o) => {
        for (const c of cids) {
          const bytes = seed.getSync(c)
          scratch.set(bytes)
          await o.onBlocks!([{ cid: c, bytes: scratch.subarray(0, bytes.length) }], bytes.length)
        }
        scratch.fill(0)
        return { blocks: [], missing: [] }
      }
    }
    const local = tempStore(t)
    const r = await fetchDag(local, cid, [reusing], { batchSize: 64 })
    assert.equal(r.fetchedBlocks, blocks)
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
  })

  it('drops a source that sends a corrupted block and gets that block from another', async t => {
    const data = pseudoRandom(200_000, 52)
    const good = tempStore(t)
    const bad = tempStore(t)
    const { cid } = await importBytes(good, data, { chunker: SMALL_CHUNKS, fileFanout: 1024 })
    const r0 = await importBytes(bad, data, { chunker: SMALL_CHUNKS, pin: false, fileFanout: 1024 })
    const root = decodeNode(r0.cid, bad.getSync(r0.cid))
    assert.ok(root.type === 'file')
    for (const link of root.links) {
      const bytes = Uint8Array.from(bad.getSync(link.cid))
      bytes[0] = bytes[0]! ^ 0xff
      await bad.delete(link.cid)
      await bad.put(link.cid, bytes)
    }
    const complaints: string[] = []
    const liar: BlockSource = { ...storeSource(bad, 'liar'), misbehaved: why => complaints.push(why) }
    const local = tempStore(t)
    const badEvents: string[] = []
    const r = await fetchDag(
      local,
      cid,
      [liar, storeSource(good, 'good')],
      { batchSize: 8, onProgress: e => { if (e.type === 'fetch:bad-block') badEvents.push(e.source) } }
    )
    assert.deepEqual(await collect(cat(local, r.cid)), Buffer.from(data))
    assert.ok(complaints.length === 1 && badEvents.includes('liar'), `the liar was caught once and dropped: ${JSON.stringify({
      complaints,
      badEvents,
      sources: r.sources
    })}`)
  })

  it('resumes: blocks already held are not asked for again', async t => {
    const data = pseudoRandom(300_000, 53)
    const src = tempStore(t)
    const { cid, blocks } = await importBytes(src, data, { chunker: SMALL_CHUNKS })
    const local = tempStore(t)
    // a first fetch that is cut off after some blocks
    const controller = new AbortController()
    let seen = 0
    const flaky: BlockSource = {
      id: 'flaky',
      request: async (cids, o) => {
        if (++seen > 3) controller.abort()
        return await storeSource(src, 'flaky').request(cids, o)
      }
    }
    await assert.rejects(fetchDag(local, cid, [flaky], { batchSize: 8, perSource: 1, signal: controller.signal }), { code: 'ERR_ABORTED' })
    const held = local.stat().blocks
    assert.ok(held > 0 && held < blocks, `held ${held} of ${blocks}`)
    const asked: CID[] = []
    const counting: BlockSource = { id: 'src', request: async (cids, o) => { asked.push(...cids); return await storeSource(src, 'src').request(cids, o) } }
    const r = await fetchDag(local, cid, [counting])
    assert.equal(r.fetchedBlocks, blocks - held)
    assert.equal(asked.length, blocks - held, 'only the missing blocks were asked for')
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
  })

  it('asks the source that sent a node for what it links to, not the sources that lacked the root', async t => {
    const data = pseudoRandom(200_000, 58)
    const seed = tempStore(t)
    const { cid, blocks } = await importBytes(seed, data, { chunker: SMALL_CHUNKS, fileFanout: 8 })
    const asked = new Map<string, string[]>()
    // peers that cannot say what they hold (no haves questions, as with rarest first off)
    const recording = (source: BlockSource): BlockSource => ({
      id: source.id,
      request: async (cids, o) => {
        asked.set(source.id, [...(asked.get(source.id) ?? []), ...cids.map(String)])
        return await source.request(cids, o)
      }
    })
    // two neighbours that hold nothing of it come first: each is tried for the root, and for nothing more
    const sources = [recording(storeSource(tempStore(t), 'empty1')), recording(storeSource(tempStore(t), 'empty2')), recording(storeSource(seed, 'seed'))]
    const local = tempStore(t)
    const r = await fetchDag(local, cid, sources, { perSource: 64 })
    assert.equal(r.fetchedBlocks, blocks)
    assert.ok(blocks > 100, `a DAG of several levels: ${blocks} blocks`)
    // (one of them at least was asked: else there would be nothing to judge)
    assert.ok(asked.has('empty1') || asked.has('empty2'), 'neither neighbour that lacks the DAG was asked for its root')
    for (const id of ['empty1', 'empty2']) assert.ok((asked.get(id) ?? []).every(c => c === cid.toString()), `${id} was asked for ${asked.get(id)?.length} blocks`)
    assert.equal(asked.get('seed')?.length, blocks)
  })

  /** A slow peer that answers block by block, 30 ms each; with `cancels`, it skips the blocks it is told it need not send. */
  function slowPeer (seed: ReturnType<typeof tempStore>, cancels: boolean): {
    source: BlockSource,
    asked: () => CID[],
    sent: Set<string>,
    cancelled: string[]
  } {
    const cancelled: string[] = []
    const sent = new Set<string>()
    let asked: CID[] = []
    const source: BlockSource = {
      id: 'slow',
      request: async (cids, o) => {
        asked = cids
        const back = new Set<string>()
        if (cancels) o.onCancel?.(cs => { for (const c of cs) { back.add(c.toString()); cancelled.push(c.toString()) } })
        for (const c of cids) {
          if (back.has(c.toString())) continue // taken back: skipped at once, as a server does
          await new Promise(resolve => setTimeout(resolve, 30))
          o.signal?.throwIfAborted()
          if (back.has(c.toString())) continue
          sent.add(c.toString())
          await o.onBlocks!([{ cid: c, bytes: seed.getSync(c) }], 0)
        }
        return { blocks: [], missing: [] }
      }
    }
    return { source, asked: () => asked, sent, cancelled }
  }

  it('hands the far half of a late request to an idle source and takes it back from the slow one: no block comes twice', async t => {
    const data = pseudoRandom(150_000, 59)
    const seed = tempStore(t)
    const { cid, blocks } = await importBytes(seed, data, { chunker: SMALL_CHUNKS, fileFanout: 4096 })
    const slow = slowPeer(seed, true)
    const fastAsked: string[] = []
    const fast: BlockSource = { id: 'fast', request: async (cids, o) => { fastAsked.push(...cids.map(String)); return await storeSource(seed, 'fast').request(cids, o) } }
    const local = tempStore(t)
    // room for two requests: the root's answer (its blocks stored as they come) is still out when the leaves are asked for
    const r = await fetchDag(local, cid, [slow.source, fast], { perSource: 2, batchSize: 4096, requestBytes: 64 * 1024 * 1024 })
    assert.equal(r.fetchedBlocks, blocks)
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    assert.ok(r.stolen >= 1, 'the endgame split the slow request')
    assert.equal(r.duplicates, 0, 'and raced nothing')
    // the idle source took the far end: the slow request's last leaf, taken back from the slow peer
    const asked = slow.asked().map(String)
    assert.ok(asked.length > 1)
    assert.ok(fastAsked.includes(asked.at(-1)!))
    assert.ok(slow.cancelled.includes(asked.at(-1)!))
    // what one sent the other was never asked for, or was taken back before it came: nothing arrived twice
    for (const c of fastAsked) if (asked.includes(c)) assert.ok(!slow.sent.has(c), `${c} came from both`)
    assert.ok(slow.sent.size < blocks / 2, `the slow peer sent ${slow.sent.size} of ${blocks} blocks`)
  })

  it('races a late request of a source that cannot take blocks back, from the other end', async t => {
    const data = pseudoRandom(150_000, 60)
    const seed = tempStore(t)
    const { cid, blocks } = await importBytes(seed, data, { chunker: SMALL_CHUNKS, fileFanout: 4096 })
    const slow = slowPeer(seed, false)
    const order: string[] = []
    const fast: BlockSource = { id: 'fast', request: async (cids, o) => { order.push(...cids.map(String)); return await storeSource(seed, 'fast').request(cids, o) } }
    const local = tempStore(t)
    const r = await fetchDag(local, cid, [slow.source, fast], { perSource: 2, batchSize: 4096, requestBytes: 64 * 1024 * 1024 })
    assert.equal(r.fetchedBlocks, blocks)
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    assert.ok(r.duplicates >= 1, 'the endgame raced the slow request')
    assert.equal(r.stolen, 0)
    // the racer asked from the far end: the slow request's last leaf first
    const asked = slow.asked()
    assert.ok(asked.length > 1)
    assert.equal(order[0], asked.at(-1)!.toString())
    // the slow request was cancelled once the racer had brought everything: the slow peer sent a few blocks only
    assert.ok(slow.sent.size < blocks / 2, `the slow peer sent ${slow.sent.size} of ${blocks} blocks`)
  })

  it('sizes a source\'s pipeline by its measured throughput: a far, fast peer gets more requests in flight than the default 4', async t => {
    const data = pseudoRandom(1_200_000, 61)
    const seed = tempStore(t)
    const { cid, blocks } = await importBytes(seed, data, { chunker: SMALL_CHUNKS, fileFanout: 4096 })
    // 40 ms to answer any request, requests overlapping freely: a long round trip, plenty of bandwidth
    let inFlight = 0
    let answered = 0
    let most = 0
    const far: BlockSource = {
      id: 'far',
      request: async (cids, o) => {
        inFlight++
        if (answered >= 2) most = Math.max(most, inFlight) // its rate is known by then
        try {
          const r = await storeSource(seed, 'far').request(cids, o)
          await new Promise(resolve => setTimeout(resolve, 40))
          return r
        } finally {
          inFlight--
          answered++
        }
      }
    }
    const local = tempStore(t)
    const r = await fetchDag(local, cid, [far], { batchSize: 16 })
    assert.equal(r.fetchedBlocks, blocks)
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    assert.ok(most > 4, `the far peer had at most ${most} requests in flight`)
  })

  it('fails naming the sources it tried when no source has a block, keeping what it fetched', async t => {
    const data = pseudoRandom(100_000, 54)
    const src = tempStore(t)
    const { cid } = await importBytes(src, data, { chunker: SMALL_CHUNKS, pin: false, fileFanout: 1024 })
    const root = decodeNode(cid, src.getSync(cid))
    assert.ok(root.type === 'file')
    await src.delete(root.links[3]!.cid)
    const local = tempStore(t)
    const down: BlockSource = { id: 'down', request: async () => { throw new Error('connection refused') } }
    await assert.rejects(fetchDag(local, cid, [storeSource(src, 'half'), down]), (err: { code?: string, message: string }) =>
      err.code === 'ERR_FETCH_FAILED' && err.message.includes('half') && err.message.includes('down'))
    assert.ok(local.stat().blocks > 0, 'what was fetched stays for a resume')
    assert.equal(local.isComplete(cid), false)
    await assert.rejects(fetchDag(local, cid, []), { code: 'ERR_FETCH_FAILED' })
  })

  it('asks for the rarest blocks first', async t => {
    const data = pseudoRandom(200_000, 55)
    const everything = tempStore(t)
    const most = tempStore(t)
    const { cid } = await importBytes(everything, data, { chunker: SMALL_CHUNKS, fileFanout: 1024 })
    await importBytes(most, data, { chunker: SMALL_CHUNKS, fileFanout: 1024, pin: false })
    const root = decodeNode(cid, everything.getSync(cid))
    assert.ok(root.type === 'file')
    // the middle eight leaves are rare: only one source holds them
    const rare = root.links.slice(100, 108).map(l => l.cid)
    for (const c of rare) await most.delete(c)
    const order: string[] = []
    const recording = (source: BlockSource): BlockSource => ({
      ...source,
      request: async (cids, o) => {
        order.push(...cids.map(String))
        return await source.request(cids, o)
      }
    })
    const local = tempStore(t)
    await fetchDag(local, cid, [recording(storeSource(most, 'most')), recording(storeSource(everything, 'everything'))], { batchSize: 8, perSource: 1 })
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    const leaves = order.filter(c => c !== cid.toString())
    assert.deepEqual(new Set(leaves.slice(0, 8)), new Set(rare.map(String)), 'the first leaves asked for are the rare ones')
  })

  it('fails naming every source tried when all become unreachable, and a resume fetches only the rest', async t => {
    const data = pseudoRandom(300_000, 56)
    const src = tempStore(t)
    const { cid, blocks } = await importBytes(src, data, { chunker: SMALL_CHUNKS })
    /** A source that answers `answers` requests, then refuses every connection. */
    const dying = (id: string, kind: BlockSource['kind'], answers: number): BlockSource => {
      let n = 0
      return {
        id,
        kind,
        request: async (cids, o) => { if (++n > answers) throw new Error('connection refused'); return await storeSource(src, id).request(cids, o) }
      }
    }
    const local = tempStore(t)
    await assert.rejects(fetchDag(local, cid, [dying('peer-1', 'peer', 3), dying('mirror-1', 'mirror', 2)], { batchSize: 8 }),
      (err: { code?: string, tried?: string[], message: string }) => {
        assert.equal(err.code, 'ERR_FETCH_FAILED')
        assert.deepEqual(err.tried, ['peer-1', 'mirror-1'])
        assert.match(err.message, /peer-1: connection refused/)
        assert.match(err.message, /mirror-1: connection refused/)
        return true
      })
    const held = local.stat().blocks
    assert.ok(held > 0 && held < blocks, `what was fetched stays: ${held} of ${blocks} blocks`)
    assert.equal(local.isComplete(cid), false)
    const r = await fetchDag(local, cid, [storeSource(src, 'back')])
    assert.equal(r.fetchedBlocks, blocks - held, 'the resume fetched only the rest')
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
  })

  it('refuses a DAG larger than allowed (maxBytes, maxBlocks), held blocks included, and asks nothing more', async t => {
    const data = pseudoRandom(200_000, 57)
    const src = tempStore(t)
    const { cid, blocks } = await importBytes(src, data, { chunker: SMALL_CHUNKS })
    const all = [...src.entries()]
    assert.equal(all.length, blocks)
    const total = all.reduce((n, b) => n + b.bytes.length, 0)
    let asked = 0
    const counting: BlockSource = { id: 'src', request: async (cids, o) => { asked++; return await storeSource(src, 'src').request(cids, o) } }

    // one byte short: refused once the walk passes the budget; what is stored stays within it
    const local = tempStore(t)
    await assert.rejects(fetchDag(local, cid, [counting], { batchSize: 16, maxBytes: total - 1 }), (err: { code?: string, unit?: string, limit?: number }) =>
      err.code === 'ERR_DAG_TOO_LARGE' && err.unit === 'bytes' && err.limit === total - 1)
    // nothing more is asked of it once the budget was passed: checked at the end of the test, which gives a late
    // request every chance to come (a fixed wait could be too short on a loaded machine)
    const stopped = asked
    assert.ok(local.stat().bytes <= total - 1, `${local.stat().bytes} bytes stored`)
    assert.equal(local.isComplete(cid), false)
    // the exact size: the resume counts the blocks held and those fetched
    const held = local.stat().blocks
    const resumed = await fetchDag(local, cid, [storeSource(src, 'src')], { maxBytes: total })
    assert.equal(resumed.fetchedBlocks, blocks - held)
    assert.ok(local.isPinned(cid))
    // all held: the budget applies to held blocks too
    await assert.rejects(fetchDag(local, cid, [], { maxBytes: total - 1 }), { code: 'ERR_DAG_TOO_LARGE' })
    assert.equal((await fetchDag(local, cid, [], { maxBytes: total, maxBlocks: blocks })).fetchedBlocks, 0)

    // from nothing, at the exact size
    const fresh = tempStore(t)
    const r = await fetchDag(fresh, cid, [storeSource(src, 'src')], { maxBytes: total })
    assert.equal(r.fetchedBytes, total)
    assert.deepEqual(await collect(cat(fresh, cid)), Buffer.from(data))

    // blocks: refused as soon as one more block than allowed is reached, before it is asked for
    const few = tempStore(t)
    await assert.rejects(fetchDag(few, cid, [storeSource(src, 'src')], { maxBlocks: blocks - 1 }), (err: { code?: string, unit?: string }) =>
      err.code === 'ERR_DAG_TOO_LARGE' && err.unit === 'blocks')
    const kept = few.stat().blocks
    assert.ok(kept < blocks)
    assert.equal((await fetchDag(few, cid, [storeSource(src, 'src')], { maxBlocks: blocks })).fetchedBlocks, blocks - kept)
    await assert.rejects(fetchDag(few, cid, [], { maxBytes: -1 }), { code: 'ERR_INVALID_OPTION' })
    assert.equal(asked, stopped, 'nothing more was asked once the byte budget was passed')
  })

  it('starts each fetch at a random place among the leaves, except with a mirror among the sources', async t => {
    const data = pseudoRandom(300_000, 57)
    const seed = tempStore(t)
    const { cid } = await importBytes(seed, data, { chunker: SMALL_CHUNKS })
    const firstLeaf = async (kind?: 'mirror'): Promise<string> => {
      let first: string | undefined
      const source: BlockSource = {
        ...storeSource(seed, 's'),
        kind,
        async request (cids) {
          // the first request of leaves alone (the root's own links may mix leaves and nodes)
          if (first === undefined && cids.every(c => c.code === 0x55)) first = cids[0]!.toString()
          return await storeSource(seed, 's').request(cids, {})
        }
      }
      await fetchDag(tempStore(t), cid, [source], { batchSize: 8 })
      return first!
    }
    const fromPeers = new Set<string>()
    for (let i = 0; i < 8; i++) fromPeers.add(await firstLeaf())
    assert.ok(fromPeers.size > 1, 'fetches from peers begin at different leaves')
    // the file's first leaf, every time, when a mirror reads ranges in file order
    const root = decodeNode(cid, seed.getSync(cid))
    assert.ok(root.type === 'file')
    let first = root.links[0]!.cid
    while (first.code !== 0x55) {
      const node = decodeNode(first, seed.getSync(first))
      assert.ok(node.type === 'file')
      first = node.links[0]!.cid
    }
    const fileFirst = first.toString()
    for (let i = 0; i < 3; i++) assert.equal(await firstLeaf('mirror'), fileFirst)
  })

  it('does not finish while the answer of a cancelled request is still walking the links of what it stored', async t => {
    // two leaves under the root: the first cut falls between 4096 and 8192 bytes, the rest is one chunk
    const data = pseudoRandom(8300, 58)
    const seed = tempStore(t)
    const { cid, blocks } = await importBytes(seed, data, { chunker: { minSize: 4096, avgSize: 4096, maxSize: 8192 } })
    assert.equal(blocks, 3)
    const local = tempStore(t)
    // the walk's first look-up of each leaf takes a while: it outlasts the other answer for the root
    const looked = new Set<string>()
    const slowLookups = {
      getSync: local.getSync.bind(local),
      putMany: local.putMany.bind(local),
      pin: local.pin.bind(local),
      markComplete: local.markComplete.bind(local),
      openSession: local.openSession.bind(local),
      async has (c: CID) {
        if (c.code === 0x55 && !looked.has(c.toString())) {
          looked.add(c.toString())
          await new Promise(resolve => setTimeout(resolve, 600))
        }
        return await local.has(c)
      }
    }
    // the root goes to the slow source first; the fast one races it in the endgame, wins, and is then
    // cancelled by the slow one's late answer while its walk of the root's links is still under way
    const slow: BlockSource = {
      id: 'slow',
      async request (cids) {
        await new Promise(resolve => setTimeout(resolve, 400))
        return await storeSource(seed, 'slow').request(cids, {})
      }
    }
    const fast: BlockSource = { id: 'fast', request: async cids => await storeSource(seed, 'fast').request(cids, {}) }
    const r = await fetchDag(slowLookups, cid, [slow, fast], { batchSize: 4096 })
    assert.equal(r.duplicates > 0, true, 'the root was raced')
    assert.equal(local.stat().blocks, blocks)
    assert.ok(local.isPinned(cid))
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
  })

  it('cuts requests of large blocks short at requestBytes, by the sizes the file nodes give', async t => {
    const data = pseudoRandom(1_500_000, 59)
    const seed = tempStore(t)
    const chunker = { minSize: 16384, avgSize: 32768, maxSize: 65536 }
    const { cid } = await importBytes(seed, data, { chunker })
    const requested: number[] = []
    const source: BlockSource = {
      id: 's',
      async request (cids) {
        const answer = await storeSource(seed, 's').request(cids, {})
        if (cids.every(c => c.code === 0x55)) requested.push(answer.blocks.reduce((n, b) => n + b.bytes.length, 0))
        return answer
      }
    }
    const local = tempStore(t)
    await fetchDag(local, cid, [source], { requestBytes: 256 * 1024 })
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    assert.ok(requested.length >= 6, `${requested.length} requests of leaves`)
    // a request stops at the first block that reaches the limit: at most one block past it
    for (const bytes of requested) assert.ok(bytes < 256 * 1024 + chunker.maxSize, `${bytes} bytes in one request`)
  })
})
