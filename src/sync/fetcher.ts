import type { CID } from 'multiformats/cid'
import { CODEC_RAW } from '../dag/constants.js'
import { blockLinks } from '../dag/links.js'
import { verifyBlock } from '../dag/verify.js'
import { AbortError, BlockCorruptError, FetchFailedError } from '../errors.js'
import type { Block, Blockstore } from '../store/interface.js'

/** Where blocks can come from: a peer today, an HTTP mirror later. */
export interface BlockSource {
  readonly id: string
  /** Ask for blocks; the answer may be partial. Bytes are untrusted: the fetcher verifies them. */
  request: (cids: CID[], options: { signal?: AbortSignal }) => Promise<{ blocks: Block[], missing: CID[] }>
  /** Called when the source sent a block that does not match its CID. */
  misbehaved?: (reason: string) => void
}

export type FetchProgressEvent =
  | { type: 'fetch:blocks', blocks: number, bytes: number, source: string }
  | { type: 'fetch:bad-block', cid: string, source: string }
  | { type: 'fetch:source-failed', source: string, error: string }

export interface FetchOptions {
  signal?: AbortSignal
  onProgress?: (event: FetchProgressEvent) => void
  /** Pin the root once complete. @default true */
  pin?: boolean
  /** CIDs asked for in one request: small blocks travel many to a message. @default 128 */
  batchSize?: number
  /** Requests in flight to one source. @default 4 */
  perSource?: number
}

export interface FetchResult {
  cid: CID
  /** Blocks received and stored by this fetch (not those already held). */
  fetchedBlocks: number
  fetchedBytes: number
  /** Verified bytes received from each source. */
  sources: Record<string, number>
  seconds: number
}

type FetchStore = Pick<Blockstore, 'getSync' | 'has' | 'putMany' | 'pin' | 'markComplete' | 'openSession'>

const keyOf = (cid: CID): string => cid.toString()

/**
 * Fetch the DAG under `root` into the store from `sources`, verifying every block before it is stored.
 * Blocks already held are not asked for, so an interrupted fetch resumes where it stopped. Each request goes
 * to the source with the fewest requests in flight that has not said it lacks those blocks; a source that
 * sends a bad block is dropped (and told, through `misbehaved`) and its blocks are asked of the others.
 */
export async function fetchDag (store: FetchStore, root: CID, sources: BlockSource[], options: FetchOptions = {}): Promise<FetchResult> {
  const started = performance.now()
  const batchSize = options.batchSize ?? 128
  const perSource = options.perSource ?? 4
  const result: FetchResult = { cid: root, fetchedBlocks: 0, fetchedBytes: 0, sources: {}, seconds: 0 }
  const seen = new Set<string>()
  const wanted: CID[] = []
  const lacking = new Map<string, Set<string>>() // cid -> sources that do not have it
  const live = new Map<string, { source: BlockSource, inFlight: number }>(sources.map(s => [s.id, { source: s, inFlight: 0 }]))
  const tried = sources.map(s => s.id)
  const session = store.openSession()

  /** Note a block we hold (or just stored): its links join the walk. */
  const expand = (cid: CID, bytes: Uint8Array): void => {
    if (cid.code === CODEC_RAW) return
    for (const link of blockLinks(cid, bytes)) discover(link)
  }
  const discover = (cid: CID): void => {
    const k = keyOf(cid)
    if (seen.has(k)) return
    seen.add(k)
    pendingLocal.push(cid)
  }
  const pendingLocal: CID[] = []

  /** Sort newly discovered CIDs into held (expand locally) and wanted. */
  const settleLocal = async (): Promise<void> => {
    while (pendingLocal.length > 0) {
      const cid = pendingLocal.pop()!
      if (await store.has(cid)) {
        if (cid.code !== CODEC_RAW) expand(cid, store.getSync(cid))
      } else {
        wanted.push(cid)
      }
    }
  }

  try {
    discover(root)
    await settleLocal()
    const running = new Set<Promise<void>>()
    let failure: Error | undefined

    const dispatch = (): void => {
      while (wanted.length > 0 && failure === undefined) {
        // the least busy source with room that does not lack the next block
        const next = wanted[wanted.length - 1]!
        const nope = lacking.get(keyOf(next))
        let best: { source: BlockSource, inFlight: number } | undefined
        for (const s of live.values()) {
          if (s.inFlight >= perSource || nope?.has(s.source.id) === true) continue
          if (best === undefined || s.inFlight < best.inFlight) best = s
        }
        if (best === undefined) {
          const candidates = [...live.values()].filter(s => nope?.has(s.source.id) !== true)
          if (candidates.length === 0 && running.size === 0) {
            failure = new FetchFailedError(live.size === 0 ? `no source could serve ${next}` : `no source has block ${next}`, tried)
          }
          return
        }
        const batch: CID[] = []
        for (let i = wanted.length - 1; i >= 0 && batch.length < batchSize; i--) {
          if (lacking.get(keyOf(wanted[i]!))?.has(best.source.id) === true) continue
          batch.push(wanted[i]!)
          wanted.splice(i, 1)
        }
        const chosen = best
        chosen.inFlight++
        const p = ask(chosen.source, batch).catch((err: Error) => { failure ??= err }).finally(() => {
          chosen.inFlight--
          running.delete(p)
        })
        running.add(p)
      }
    }

    const ask = async (source: BlockSource, batch: CID[]): Promise<void> => {
      let answer: { blocks: Block[], missing: CID[] }
      try {
        answer = await source.request(batch, { signal: options.signal })
      } catch (err) {
        if (options.signal?.aborted === true) throw new AbortError()
        live.delete(source.id)
        options.onProgress?.({ type: 'fetch:source-failed', source: source.id, error: (err as Error).message })
        wanted.push(...batch)
        return
      }
      if (!live.has(source.id)) { // dropped while this request was out: its answer is not trusted
        wanted.push(...batch)
        return
      }
      const asked = new Map(batch.map(c => [keyOf(c), c]))
      const good: Block[] = []
      for (const b of answer.blocks) {
        if (!asked.delete(keyOf(b.cid))) continue // not asked for: ignored, never stored
        let corrupt = false
        try {
          await verifyBlock(b.cid, b.bytes, `peer ${source.id}`)
        } catch (err) {
          if (!(err instanceof BlockCorruptError)) throw err
          corrupt = true
        }
        if (corrupt || !live.has(source.id)) {
          // one bad block and nothing from this source is trusted; only the first to find out reports it
          if (live.delete(source.id)) {
            options.onProgress?.({ type: 'fetch:bad-block', cid: b.cid.toString(), source: source.id })
            source.misbehaved?.(`sent a block that does not match ${b.cid}`)
          }
          wanted.push(...batch)
          return
        }
        good.push(b)
      }
      // what was neither sent nor (honestly) refused is asked of someone else; the refusal is remembered
      for (const c of asked.values()) {
        let set = lacking.get(keyOf(c))
        if (set === undefined) lacking.set(keyOf(c), set = new Set())
        set.add(source.id)
        wanted.push(c)
      }
      if (good.length > 0) {
        const r = await store.putMany(good, session)
        result.fetchedBlocks += r.newBlocks
        result.fetchedBytes += r.newBytes
        let bytes = 0
        for (const b of good) { bytes += b.bytes.length; expand(b.cid, b.bytes) }
        result.sources[source.id] = (result.sources[source.id] ?? 0) + bytes
        options.onProgress?.({ type: 'fetch:blocks', blocks: result.fetchedBlocks, bytes: result.fetchedBytes, source: source.id })
        await settleLocal()
      }
    }

    for (;;) {
      if (options.signal?.aborted === true) throw new AbortError()
      dispatch()
      if (failure !== undefined) throw failure
      if (running.size === 0) {
        if (wanted.length === 0 && pendingLocal.length === 0) break
        dispatch()
        if (failure !== undefined) throw failure
        if (running.size === 0) throw new FetchFailedError('no source can serve the remaining blocks', tried)
      }
      await Promise.race(running)
    }
    if (options.pin ?? true) await store.pin(root)
    else await store.markComplete(root)
    result.seconds = (performance.now() - started) / 1000
    return result
  } finally {
    session.end()
  }
}
