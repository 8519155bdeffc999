import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CODEC_DAG_CBOR } from '../../../src/dag/constants.js'
import { cat, exportTo } from '../../../src/dag/exporter.js'
import { importBytes, importPath } from '../../../src/dag/importer.js'
import { chunkLocations } from '../../../src/dag/locations.js'
import { AbortError } from '../../../src/errors.js'
import { fetchDag, type BlockSource, type FetchProgressEvent } from '../../../src/sync/fetch/fetcher.js'
import { rangeMirrorSource } from '../../../src/sync/fetch/range-mirror.js'
import { storeSource } from '../../../src/sync/fetch/store-source.js'
import { serveDir } from '../../helpers/static-server.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }
const TIMEOUT = { timeout: 60_000 }

/** Resolves after `ms`, or rejects with ERR_ABORTED as soon as `signal` aborts. */
async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) return reject(new AbortError())
    const timer = setTimeout(() => { signal?.removeEventListener('abort', stop); resolve() }, ms)
    const stop = (): void => { clearTimeout(timer); reject(new AbortError()) }
    signal?.addEventListener('abort', stop, { once: true })
  })
}

/** `inner` answering `ms` later, under another id and kind. */
function delayed (inner: BlockSource, id: string, ms: number, kind: BlockSource['kind'] = 'peer'): BlockSource {
  return {
    id,
    kind,
    haves: inner.haves,
    request: async (cids, o) => {
      await sleep(ms, o.signal)
      return await inner.request(cids, o)
    }
  }
}

interface Stalling extends BlockSource {
  /** When the first request that never got an answer arrived (performance.now()). */
  stalledAt?: number
  /** Requests left hanging, and how many of them the fetcher cancelled. */
  hung: number
  cancelled: number
  /** When the fetcher cancelled the first of them: another source had delivered its blocks. */
  firstCancelAt?: number
}

/** A peer that answers `good` requests, then never answers again: each later request hangs until its signal aborts. */
function stalling (inner: BlockSource, id: string, good: number): Stalling {
  let answered = 0
  const s: Stalling = {
    id,
    kind: 'peer',
    hung: 0,
    cancelled: 0,
    request: async (cids, o) => {
      if (answered < good) {
        answered++
        return await inner.request(cids, o)
      }
      s.stalledAt ??= performance.now()
      s.hung++
      try {
        await sleep(3_600_000, o.signal)
      } finally {
        s.cancelled++
        s.firstCancelAt ??= performance.now()
      }
      throw new Error('unreachable')
    }
  }
  return s
}

describe('fetching from sources that stall, leave and come back', () => {
  it('moves a stalled peer\'s blocks to an HTTP mirror mid-download, and cancels the stalled requests', TIMEOUT, async t => {
    const dir = join(tempDir(t), 'release')
    const files = { 'a.bin': pseudoRandom(2_000_000, 91), 'b.bin': pseudoRandom(1_000_000, 92) }
    mkdirSync(dir)
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes)
    const seeder = tempStore(t)
    const { cid: root } = await importPath(seeder, dir, { chunker: SMALL_CHUNKS })
    // the client holds the release's interior nodes (its manifest); the leaves come from a peer or the web server
    const local = tempStore(t)
    await local.putMany([...seeder.entries()].filter(b => b.cid.code === CODEC_DAG_CBOR).map(b => ({ cid: b.cid, bytes: Uint8Array.from(b.bytes) })))
    const locations = await chunkLocations(local, root)
    const server = await serveDir(t, dir)
    // a real HTTP mirror, slowed down so that the download outlasts the stall (else the endgame would cover it)
    const mirror = delayed(rangeMirrorSource(server.url, locations), 'web', 120, 'mirror')
    const peer = stalling(storeSource(seeder, 'peer'), 'peer', 6)
    const events: Array<FetchProgressEvent & { at: number }> = []
    const r = await fetchDag(local, root, [peer, mirror], { batchSize: 16, onProgress: e => events.push({ ...e, at: performance.now() }) })
    assert.equal(r.fetchedBlocks, locations.size)
    assert.ok(peer.stalledAt !== undefined && peer.hung > 0, 'the peer stalled mid-download')
    // (on a loaded machine the mirror may be found stalled too, for a while: only the peer's stall matters here)
    const stalled = events.find(e => e.type === 'fetch:stalled' && e.source === 'peer')
    assert.ok(stalled?.type === 'fetch:stalled' && stalled.blocks > 0, JSON.stringify(events.filter(e => e.type === 'fetch:stalled')))
    assert.ok(events.some(e => e.type === 'fetch:blocks' && e.source === 'web' && e.at > stalled.at), 'the mirror went on after the stall')
    assert.ok(peer.firstCancelAt !== undefined, 'a stalled request was cancelled')
    // taken over mid-download, in this order: the stall was found, the mirror delivered the stalled blocks, the
    // stalled request was cancelled for it, and the download went on; not raced in the endgame or dropped at the
    // end. (How many seconds that takes depends on the machine: the stall's timing is judged on a fake clock, in
    // stalls.test.ts.)
    const blocksBy = (at: number): number => Math.max(0, ...events.map(e => e.type === 'fetch:blocks' && e.at < at ? e.blocks : 0))
    const endgame = events.find(e => e.type === 'fetch:endgame')?.at ?? Number.POSITIVE_INFINITY
    t.diagnostic(`blocks in when the stall was found ${blocksBy(stalled.at)}, when its request was cancelled ${blocksBy(peer.firstCancelAt)}, at the endgame ${blocksBy(endgame)}, of ${r.fetchedBlocks}`)
    t.diagnostic(`stall found after ${((stalled.at - peer.stalledAt) / 1000).toFixed(2)} s, its blocks delivered by the mirror after ${((peer.firstCancelAt - peer.stalledAt) / 1000).toFixed(2)} s, fetch ${r.seconds.toFixed(2)} s`)
    assert.ok(stalled.at < peer.firstCancelAt, 'the stalled request was cancelled before the stall was found')
    assert.ok(peer.firstCancelAt < endgame, 'the stalled blocks were taken over only in the endgame')
    assert.ok(blocksBy(peer.firstCancelAt) < r.fetchedBlocks, 'the stalled request was cancelled only at the end of the download')
    assert.ok((r.sources.peer ?? 0) > 0 && (r.sources.web ?? 0) > 0, JSON.stringify(r.sources))
    assert.ok(r.duplicates > 0)
    // every request left hanging was cancelled, by the race or by the end of the fetch
    await waitFor(() => peer.cancelled >= peer.hung, { what: `the ${peer.hung} requests left hanging to be cancelled` })
    assert.equal(peer.cancelled, peer.hung)
    const out = join(tempDir(t), 'out')
    await exportTo(local, root, out)
    for (const [name, bytes] of Object.entries(files)) assert.deepEqual(readFileSync(join(out, name)), Buffer.from(bytes), name)
  })

  it('keeps waiting for a stalled source when no other can serve its blocks, without racing it', TIMEOUT, async t => {
    const data = pseudoRandom(300_000, 93)
    const src = tempStore(t)
    const { cid, blocks } = await importBytes(src, data, { chunker: SMALL_CHUNKS })
    // the only source goes silent for 1.5 s on its fourth request, then answers again
    let n = 0
    const inner = storeSource(src, 'only')
    const pausing: BlockSource = {
      id: 'only',
      request: async (cids, o) => {
        if (++n === 4) await sleep(1500, o.signal)
        return await inner.request(cids, o)
      }
    }
    const local = tempStore(t)
    const stalls: string[] = []
    const r = await fetchDag(local, cid, [pausing], { batchSize: 8, onProgress: e => { if (e.type === 'fetch:stalled') stalls.push(e.source) } })
    assert.equal(r.fetchedBlocks, blocks)
    assert.deepEqual(stalls, ['only'], 'the stall was noticed')
    assert.equal(r.duplicates, 0, 'with no one to race it, nothing was asked twice')
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
  })

  it('gives work to a source that joins mid-fetch, and again to a peer that leaves and comes back', TIMEOUT, async t => {
    const data = pseudoRandom(2_000_000, 94)
    const src = tempStore(t)
    const { cid, blocks } = await importBytes(src, data, { chunker: SMALL_CHUNKS })
    const local = tempStore(t)
    const served = { before: 0, after: 0 } // bytes the peer sent before it left, and after it came back
    let phase: 'absent' | 'before' | 'gone' | 'after' = 'absent'
    let mirrorAnswers = 0
    let add: ((s: BlockSource) => void) | undefined
    let remove: ((id: string) => void) | undefined
    /** A fast peer; its connection drops after 3 answers: requests then in flight fail. */
    const connect = (): BlockSource => {
      const inner = storeSource(src, 'peer')
      const closed = new AbortController()
      let answers = 0
      return {
        id: 'peer',
        request: async (cids, o) => {
          if (closed.signal.aborted) throw new Error('connection closed')
          await sleep(2, AbortSignal.any([closed.signal, ...(o.signal === undefined ? [] : [o.signal])])).catch(() => { throw new Error('connection closed') })
          const answer = await inner.request(cids, o)
          if (phase === 'before' && ++answers === 3) {
            phase = 'gone'
            closed.abort()
            remove?.('peer')
          }
          served[phase === 'after' ? 'after' : 'before'] += answer.blocks.reduce((n, b) => n + b.bytes.length, 0)
          return answer
        }
      }
    }
    // the mirror is slow: while the peer is away, the download goes on at its pace
    const slowMirror = storeSource(src, 'mirror')
    const mirror: BlockSource = {
      id: 'mirror',
      kind: 'mirror',
      request: async (cids, o) => {
        await sleep(30, o.signal)
        const answer = await slowMirror.request(cids, o)
        mirrorAnswers++
        if (phase === 'absent' && mirrorAnswers === 2) { phase = 'before'; add?.(connect()) } // joins mid-fetch
        if (phase === 'gone' && mirrorAnswers >= 10) { phase = 'after'; add?.(connect()) } // comes back
        return answer
      }
    }
    const r = await fetchDag(local, cid, [mirror], {
      batchSize: 8,
      watch: (a, rm) => { add = a; remove = rm; return () => { add = undefined; remove = undefined } }
    })
    assert.equal(r.fetchedBlocks, blocks)
    assert.equal(phase, 'after', 'the peer joined, left and came back during the download')
    assert.ok(served.before > 0, 'the peer that joined mid-fetch was given blocks')
    assert.ok(served.after > 0, 'the peer that came back was given blocks again')
    assert.ok(served.after > (r.sources.mirror ?? 0) / 4, `work moved back to the fast peer: ${JSON.stringify({ served, sources: r.sources })}`)
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
  })

  it('gives most work to the faster source whatever its kind, and some to the slower one', TIMEOUT, async t => {
    const data = pseudoRandom(300_000, 95)
    const src = tempStore(t)
    const { cid } = await importBytes(src, data, { chunker: SMALL_CHUNKS })
    for (const [fast, slow] of [['mirror', 'peer'], ['peer', 'mirror']] as const) {
      const local = tempStore(t)
      const sources = [
        delayed(storeSource(src, 'x'), slow, 40, slow),
        delayed(storeSource(src, 'x'), fast, 2, fast)
      ]
      const r = await fetchDag(local, cid, sources, { batchSize: 8, perSource: 1 })
      const fromFast = r.sources[fast] ?? 0
      const fromSlow = r.sources[slow] ?? 0
      assert.ok(fromSlow > 0, `the slow ${slow} was not starved: ${JSON.stringify(r.sources)}`)
      assert.ok(fromFast > 2 * fromSlow, `the fast ${fast} served most: ${JSON.stringify(r.sources)}`)
      assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    }
  })
})
