import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import { CODEC_DAG_CBOR, CODEC_RAW } from '../../dag/constants.js'
import { blockLinks } from '../../dag/links.js'
import { decodeNode, type DagNode } from '../../dag/nodes.js'
import { getHasher } from '../../dag/hashing.js'
import { checkDigest } from '../../dag/verify.js'
import { AbortError, BlockCorruptError, DagTooLargeError, FetchFailedError, InvalidOptionError } from '../../errors.js'
import type { Block, Blockstore } from '../../store/interface.js'
import type { BlockAnswer, BlockSource, FetchOptions, FetchResult } from './fetch-interface.js'
import { Holders } from './holders.js'

export type { BlockAnswer, BlockSource, FetchOptions, FetchProgressEvent, FetchResult, RequestOptions } from './fetch-interface.js'

interface SourceState {
  source: BlockSource
  inFlight: number
  /** When its requests in flight last went from none to some (performance.now()). */
  busySince: number
  /**
   * Its recent throughput: bytes it delivered over the ms it had requests in flight before busySince, both halved
   * whenever the time passes RATE_WINDOW_MS (so a slow start, or a slow spell, is soon forgotten).
   */
  rateBytes: number
  busyMs: number
  /** Requests it answered. */
  answered: number
  /** The shortest time it took to answer a request, in seconds: its round trip, nearly. */
  quickest: number
  /** Bytes it delivered. */
  delivered: number
  /** It said it lacks a block of this DAG (or left one unanswered): not known to hold all of it. */
  lacked: boolean
  /** Moving average of how long a request to this source takes (0 until one completes). */
  secondsPerRequest: number
  /** Requests that failed in a row. */
  failures: number
  /** A request of it stalled: no new work until it answers something, except one block at a time when idle. */
  stalled: boolean
}

interface Outstanding {
  cids: CID[]
  /** Its blocks not yet received, by key. */
  open: Map<string, CID>
  /** Keys of blocks that came and wait to be stored with the next batch (still in `open` until then). */
  arrived: Set<string>
  /** Keys of blocks handed to another source by a steal: never given back from this request. */
  taken: Set<string>
  source: SourceState
  controller: AbortController
  /** Part of a race (another request asks for some of the same blocks): cancelled once all its blocks are stored. */
  raced: boolean
  /** Its blocks not yet asked of another source (by a race). */
  raceable: CID[]
  /** Found stalled (or in flight to a source found stalled): its blocks go to whichever other source has room. */
  stalled: boolean
  /** The request this one races: blocks this one cannot deliver go back to it, to be offered elsewhere. */
  origin?: Outstanding
  /** Answered, failed or cancelled. */
  settled: boolean
  started: number
  /** When it last delivered blocks (or started): it stalls when silent too long. */
  progressAt: number
  /** Takes back blocks of the request, if its source can. */
  cancel?: (cids: CID[]) => void
}

/** Bytes asked for in one request at most (FetchOptions.requestBytes). */
const REQUEST_BYTES = 1024 * 1024
/** Blocks of a long answer arriving message by message are stored once this many bytes have come. */
const STREAM_STORE_BYTES = 256 * 1024
/** Requests in flight to a source that has not delivered yet (then sized by its throughput, see pipeline). */
const DEFAULT_PIPELINE = 4
const MIN_PIPELINE = 2
const MAX_PIPELINE = 16
/** Work in flight to a source should keep it busy this long: a round trip and the server's turn are hidden. */
const PIPELINE_SECONDS = 0.5
/** A source's throughput counts once it has been busy this long. */
const MIN_RATE_MS = 200
/** A source's throughput is measured over its last 2 to 4 s of being busy. */
const RATE_WINDOW_MS = 4000
/** What a block of unknown size (an interior node) is counted as in a request's bytes. */
const UNKNOWN_BLOCK_BYTES = 16 * 1024

/** Failed requests in a row after which a source is dropped from a fetch. */
const MAX_FAILURES = 3
/** CIDs asked about in one haves question. */
const HAVES_BATCH = 1024
/** A source that does not say what it holds within this long is simply asked for blocks. */
const HAVES_TIMEOUT_MS = 2000
/** Longest a dispatch with nothing in flight waits for sources to say which blocks they hold. */
const HAVES_WAIT_MS = 100
/** A patient fetch asks again, this often, the sources that said they lack a block (they may have it by now). */
const PATIENCE_REASK_MS = 1000
/** How often the endgame looks for late requests when nothing else happens. */
const ENDGAME_TICK_MS = 50
/** A request is never called stalled before this long: below it, a busy link or a large batch explains the wait. */
const STALL_MIN_MS = 750
/** A request is stalled once it runs this many times longer than its source (or the fastest source) usually takes. */
const STALL_FACTOR = 4
/** A stalled request is asked of another source once it has waited this many times that source's usual time. */
const RACE_FACTOR = 2

type FetchStore = Pick<Blockstore, 'getSync' | 'has' | 'putMany' | 'pin' | 'markComplete' | 'openSession'>

const keyOf = cidKey

/** `value` as a limit: a number >= 0, or unlimited when not given. */
function limit (name: string, value: number | undefined): number {
  if (value === undefined) return Number.POSITIVE_INFINITY
  if (!(value >= 0)) throw new InvalidOptionError(`${name} must be a number >= 0, got ${value}`)
  return value
}

/**
 * Fetch the DAG under `root` into the store from `sources`, verifying every block before it is stored.
 * Blocks already held are not asked for, so an interrupted fetch resumes where it stopped. Sources that can
 * say which blocks they hold are asked first, and the rarest blocks are requested first. Each request goes
 * to the source expected to answer it first (requests in flight times its measured time per request), among
 * those that have not said they lack the blocks, so slow sources get less work, whatever their kind; the
 * source that sent a block's parent goes first, and sources that lacked an ancestor last (see Holders).
 *
 * A request that delivers nothing (its first blocks, or more of a long answer) for STALL_FACTOR times as long as
 * its source usually takes to answer a request (and at least STALL_MIN_MS) has stalled: its blocks are asked of
 * other sources with room that usually answer in under 1/RACE_FACTOR of the time it has waited, the first answer
 * wins and the other request is cancelled, and the stalled source gets no new work until it answers (one block
 * at a time once it has nothing in flight, so a source that recovers gets work again). In the endgame idle
 * sources race the oldest late requests the same way. A source that sends a bad block is dropped (and told,
 * through `misbehaved`) and its blocks are asked of the others. When no source is left that can serve a block,
 * the fetch fails with ERR_FETCH_FAILED naming every source tried; what was stored stays for a resume.
 */
export async function fetchDag (store: FetchStore, root: CID, sources: BlockSource[], options: FetchOptions = {}): Promise<FetchResult> {
  const started = performance.now()
  const batchSize = options.batchSize ?? 128
  const requestBytes = options.requestBytes ?? REQUEST_BYTES
  /** Sizes of leaves, as the file and directory nodes above them give them. */
  const leafSize = new Map<string, number>()
  const maxBytes = limit('maxBytes', options.maxBytes)
  const maxBlocks = limit('maxBlocks', options.maxBlocks)
  const patienceMs = limit('patienceMs', options.patienceMs ?? 0)
  /** When the last verified block arrived (or the root was found held): a patient fetch waits this long for holders. */
  let lastProgress = Number.NEGATIVE_INFINITY
  /** A patient fetch waiting for holders: when to ask again the sources that lacked what is left. */
  let reaskAt: number | undefined
  const patient = (): boolean => performance.now() - lastProgress < patienceMs
  /** Wait for holders: returns when to look again. */
  const waitForHolders = (now: number): number => {
    reaskAt ??= now + PATIENCE_REASK_MS
    return reaskAt
  }
  const result: FetchResult = { cid: root, fetchedBlocks: 0, fetchedBytes: 0, sources: {}, wire: {}, wireBytes: 0, duplicates: 0, stolen: 0, verifySeconds: 0, seconds: 0 }
  /** Every block the walk reached; true once its bytes are counted against maxBytes. */
  const seen = new Map<string, boolean>()
  let dagBytes = 0
  const wanted: CID[] = []
  const wantedKeys = new Set<string>()
  const want = (cid: CID): void => {
    if (wantedKeys.has(keyOf(cid))) return
    wantedKeys.add(keyOf(cid))
    wanted.push(cid)
    if (!holders.asked(keyOf(cid))) unqueried.push(cid)
  }
  /** Put blocks back in the queue, except those stored meanwhile (by a racing request). */
  const requeue = async (cids: CID[]): Promise<void> => {
    for (const c of cids) if (!await store.has(c)) want(c)
  }
  const holders = new Holders()
  let unqueried: CID[] = [] // wanted blocks nobody has been asked about yet
  const track = (source: BlockSource): SourceState => ({ source, inFlight: 0, busySince: 0, rateBytes: 0, busyMs: 0, answered: 0, quickest: Number.POSITIVE_INFINITY, delivered: 0, lacked: false, secondsPerRequest: 0, failures: 0, stalled: false })
  const live = new Map<string, SourceState>(sources.map(s => [s.id, track(s)]))
  const isLive = (s: SourceState): boolean => live.get(s.source.id) === s

  const tried = sources.map(s => s.id)
  /** Why each source that failed was given up or passed over, for the error that ends a failed fetch. */
  const why = new Map<string, string>()
  const failed = (message: string): FetchFailedError =>
    new FetchFailedError(why.size === 0 ? message : `${message}; ${[...why].map(([id, reason]) => `${id}: ${reason}`).join('; ')}`, tried)
  const session = store.openSession()
  /** Aborts the haves questions still out when the fetch ends. */
  const stop = new AbortController()
  let closed = false
  let wake: (() => void) | undefined
  const unwatch = options.watch?.(source => {
    if (live.has(source.id)) return
    live.set(source.id, track(source))
    if (!tried.includes(source.id)) tried.push(source.id)
    wake?.()
  }, id => {
    live.delete(id) // its requests in flight fail or are answered and then ignored; their blocks are asked again
    wake?.()
  })

  /**
   * Where in each node's links this fetch starts (a fraction, drawn once): neighbours fetching the same new
   * resource at once each begin at a different place, so they soon hold different blocks to trade instead of all
   * asking the publisher for the same ones first. Runs of neighbouring blocks stay together; with an HTTP mirror
   * among the sources the walk keeps file order, so the mirror reads each file in as few ranges as it can. The
   * rarest-first order, when on, still comes first.
   */
  const rotation = sources.some(s => s.kind === 'mirror') ? 0 : Math.random()
  /** Note a block we hold (or just stored): its links join the walk. */
  const expand = (cid: CID, bytes: Uint8Array, from?: string): void => {
    if (cid.code === CODEC_RAW) return
    const links = linksOf(cid, bytes, leafSize)
    holders.linked(keyOf(cid), links.map(keyOf), from)
    const start = Math.floor(rotation * links.length)
    for (let i = 0; i < links.length; i++) discover(links[(start + i) % links.length]!)
  }
  const discover = (cid: CID): void => {
    const k = keyOf(cid)
    if (seen.has(k)) return
    seen.set(k, false)
    if (seen.size > maxBlocks) throw new DagTooLargeError(root.toString(), 'blocks', maxBlocks)
    pendingLocal.push(cid)
  }
  const pendingLocal: CID[] = []

  /** Sort newly discovered CIDs into held (expand locally, count its bytes) and wanted. */
  const settleLocal = async (): Promise<void> => {
    while (pendingLocal.length > 0) {
      const cid = pendingLocal.pop()!
      if (await store.has(cid)) {
        // part of the DAG held already (an earlier attempt): the download has begun
        if (cid.equals(root)) lastProgress = performance.now()
        if (cid.code === CODEC_RAW && !Number.isFinite(maxBytes)) continue
        const bytes = store.getSync(cid)
        seen.set(keyOf(cid), true)
        dagBytes += bytes.length
        if (dagBytes > maxBytes) throw new DagTooLargeError(root.toString(), 'bytes', maxBytes)
        expand(cid, bytes)
      } else {
        want(cid)
      }
    }
  }

  const outstanding = new Map<number, Outstanding>()
  /** Writes under way: the fetch returns only once they are done, so nothing is stored after it. */
  const storing = new Set<Promise<unknown>>()
  try {
    discover(root)
    await settleLocal()
    let nextRequest = 0
    let failure: Error | undefined
    /** Haves questions out. */
    let asking = 0

    /**
     * Requests in flight to `s` at most: options.perSource, else as many as keep it busy for PIPELINE_SECONDS (or
     * its quickest answer, if longer) at the rate it has delivered while it had work (at least a round trip and the server's turn are hidden, and a
     * slow source is not promised what it would take long to send), from MIN_PIPELINE to MAX_PIPELINE;
     * DEFAULT_PIPELINE until it has delivered something.
     */
    const pipeline = (s: SourceState): number => {
      if (options.perSource !== undefined) return options.perSource
      const now = performance.now()
      if (s.inFlight > 0) {
        s.busyMs += now - s.busySince
        s.busySince = now
      }
      if (s.busyMs > RATE_WINDOW_MS) {
        s.busyMs /= 2
        s.rateBytes /= 2
      }
      if (s.delivered === 0 || s.answered === 0 || s.busyMs < MIN_RATE_MS) return DEFAULT_PIPELINE
      const perRequest = Math.min(requestBytes, s.delivered / s.answered)
      // Little's law: in flight = rate x time in flight; a source slower to answer than PIPELINE_SECONDS even at
      // its quickest (a long round trip) needs that much more in flight
      const horizon = Math.max(PIPELINE_SECONDS, s.quickest)
      const depth = Math.ceil(s.rateBytes / s.busyMs * 1000 * horizon / perRequest) + 1
      return Math.min(MAX_PIPELINE, Math.max(MIN_PIPELINE, depth))
    }

    /** Expected seconds until `s` would finish one more request: slow sources get less work. */
    const eta = (s: SourceState): number => (s.inFlight + 1) * s.secondsPerRequest
    /** Whether `a` is a better source than `b` for block `key`. */
    const better = (a: SourceState, b: SourceState, key: string): boolean => {
      const ta = holders.tier(key, a.source.id)
      const tb = holders.tier(key, b.source.id)
      if (ta !== tb) return ta < tb
      if (eta(a) !== eta(b)) return eta(a) < eta(b)
      return (result.sources[a.source.id] ?? 0) < (result.sources[b.source.id] ?? 0)
    }

    const send = (s: SourceState, batch: CID[], origin?: Outstanding): void => {
      const controller = new AbortController()
      const id = nextRequest++
      const now = performance.now()
      const entry: Outstanding = { cids: batch, open: new Map(batch.map(c => [keyOf(c), c])), arrived: new Set(), taken: new Set(), source: s, controller, raced: origin !== undefined, raceable: batch, stalled: false, origin, settled: false, started: now, progressAt: now }
      outstanding.set(id, entry)
      if (s.inFlight++ === 0) s.busySince = now
      void ask(s, entry).catch((err: Error) => { failure ??= err }).finally(() => {
        entry.settled = true
        if (--s.inFlight === 0) s.busyMs += performance.now() - s.busySince
        outstanding.delete(id)
        wake?.()
      })
    }

    /** Ask `to` for the blocks of `o` not yet raced that it has not said it lacks. */
    const race = (o: Outstanding, to: SourceState): void => {
      const take: CID[] = []
      const keep: CID[] = []
      for (const c of o.raceable) {
        if (!o.open.has(keyOf(c))) continue // it arrived meanwhile
        ;(holders.lacks(keyOf(c), to.source.id) ? keep : take).push(c)
      }
      if (take.length === 0) return
      o.raceable = keep
      o.raced = true
      result.duplicates++
      // from the other end: the two sources send towards each other and meet near the middle, each block
      // delivered first by one is taken back from the other (where it can), so little arrives twice
      send(to, take.reverse(), o)
    }

    /**
     * The endgame for a request whose source still delivers, only late: the idle source `to` takes the far half of
     * what is left (all of it when one block is), and those blocks are taken back from the late request's source
     * at once, so the two do not send the same blocks (only what a cancel crosses on the way arrives twice). The
     * late request keeps the near half, which its source sends first, and may be split again. A source that has
     * lacked a block of this DAG races instead of stealing: blocks taken from a late source and then refused would
     * go to the back of the queue, where a race loses nothing (so a partial holder costs one round trip at most).
     * A request that cannot take blocks back (a mirror's), or one that is itself a racer, is raced too.
     */
    const steal = (o: Outstanding, to: SourceState): void => {
      if (o.cancel === undefined || o.origin !== undefined || o.raced || to.lacked) {
        race(o, to)
        return
      }
      const left = [...o.open.values()].filter(c => !o.arrived.has(keyOf(c)) && !holders.lacks(keyOf(c), to.source.id))
      if (left.length === 0) return
      const take = left.slice(Math.floor(left.length / 2))
      for (const c of take) {
        o.open.delete(keyOf(c))
        o.taken.add(keyOf(c))
      }
      o.raceable = o.raceable.filter(c => o.open.has(keyOf(c)))
      o.cancel(take)
      result.stolen++
      send(to, take)
    }

    /** The blocks of a request not handed to another source by a steal (those are the thief's to deliver). */
    const kept = (entry: Outstanding): CID[] => entry.taken.size === 0 ? entry.cids : entry.cids.filter(c => !entry.taken.has(keyOf(c)))

    /**
     * Blocks a request did not deliver: a racer hands them back to the request it races, while that one is
     * still out, to be offered to yet another source (in the queue they would wait at its head for the
     * stalled source); other blocks go back in the queue.
     */
    const giveBack = async (entry: Outstanding, cids: CID[]): Promise<void> => {
      const o = entry.origin
      if (o === undefined || o.settled || o.controller.signal.aborted) return await requeue(cids)
      for (const c of cids) if (!await store.has(c)) o.raceable.push(c)
    }

    /** Block requests still expected to deliver something: not cancelled (a cancelled one may never settle). */
    const requestsOut = (): number => {
      let n = 0
      for (const o of outstanding.values()) if (!o.controller.signal.aborted) n++
      return n
    }
    /**
     * Answers being handled (verified, stored, their links walked). A cancelled request can still be in here: the
     * racer that won cancels it while it stores the same blocks and walks their links, and what that walk finds
     * is wanted only after a store lookup. The fetch is not over until these are done.
     */
    let handling = 0
    /** Anything out that may yet bring blocks, or news of who holds them. */
    const working = (): number => requestsOut() + asking + handling

    /** Ask every source that can say so which of the new wanted blocks it holds (rarest-first needs it). */
    const queryHaves = (): void => {
      if (unqueried.length === 0) return
      const cids = unqueried.filter(c => wantedKeys.has(keyOf(c)))
      unqueried = []
      const askable = [...live.values()].filter(s => s.source.haves !== undefined)
      for (const c of cids) holders.asking(keyOf(c))
      if (askable.length === 0) return
      for (let i = 0; i < cids.length; i += HAVES_BATCH) {
        const chunk = cids.slice(i, i + HAVES_BATCH)
        const deadline = performance.now() + HAVES_WAIT_MS
        for (const c of chunk) awaitingHaves.set(keyOf(c), deadline)
        let answers = askable.length
        for (const s of askable) {
          const id = s.source.id
          asking++
          void (async () => {
            const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(HAVES_TIMEOUT_MS), ...(options.signal === undefined ? [] : [options.signal])])
            const have = new Set((await s.source.haves!(chunk, { signal })).map(keyOf))
            for (const c of chunk) {
              if (have.has(keyOf(c))) {
                holders.hold(keyOf(c), id)
              } else {
                partialSeen = true
                s.lacked = true
                holders.lack(keyOf(c), id)
              }
            }
          })().catch(() => {}).finally(() => {
            // once every source has answered (or failed to), these blocks are handed out, rarest first
            if (--answers === 0) for (const c of chunk) awaitingHaves.delete(keyOf(c))
            rarityDirty = true
            asking--
            wake?.()
          })
        }
      }
    }
    let rarityDirty = false
    /** Some source lacked something it was asked about: from then on holders are asked about every block. */
    let partialSeen = false
    /** Wanted blocks whose holders are still being asked: not handed out until the answers are in. */
    const awaitingHaves = new Map<string, number>()
    /** Rarest first: wanted is kept so its end (where batches are taken) holds the blocks with fewest holders. */
    const sortByRarity = (): void => {
      if (!rarityDirty) return
      rarityDirty = false
      // counts are computed once per sort (a key per comparison would cost more than the whole download)
      const counts = wanted.map(c => holders.count(keyOf(c)) ?? live.size)
      if (counts.every(n => n === counts[0])) return
      const order = counts.map((_, i) => i).sort((a, b) => counts[b]! - counts[a]!)
      const sorted = order.map(i => wanted[i]!)
      wanted.length = 0
      wanted.push(...sorted)
    }

    /** When `o` counts as stalled (ms, performance.now() clock): never while no source has answered anything. */
    const stallDue = (o: Outstanding, fastest: number): number => {
      const usual = o.source.secondsPerRequest > 0 ? o.source.secondsPerRequest : fastest
      return o.progressAt + Math.max(STALL_MIN_MS, STALL_FACTOR * usual * 1000)
    }

    /** Mark the requests that stalled, and their sources (a source found stalled is reported once). */
    const findStalls = (now: number, fastest: number): void => {
      for (const o of outstanding.values()) {
        if (o.stalled || o.controller.signal.aborted || now < stallDue(o, fastest)) continue
        const s = o.source
        o.stalled = true
        // it is at least this slow: the next request it gets is given longer before it counts as stalled
        s.secondsPerRequest = Math.max(s.secondsPerRequest, (now - o.started) / 1000)
        if (s.stalled) continue
        s.stalled = true
        let blocks = 0
        for (const x of outstanding.values()) {
          if (x.source !== s || x.controller.signal.aborted) continue
          x.stalled = true // all its requests wait on the same silent source
          blocks += x.cids.length
        }
        if (isLive(s)) options.onProgress?.({ type: 'fetch:stalled', source: s.source.id, blocks })
      }
    }

    /**
     * Ask other sources with room for the blocks of stalled requests, oldest request first: only sources expected
     * to answer well within the time the stalled request has waited (racing an equally slow source, as every
     * source of a throttled swarm looks after its first burst, only wastes its bandwidth). Returns when a source
     * passed over for being too slow would become worth asking, if nothing happens before.
     */
    const raceStalled = (now: number): number => {
      let next = Number.POSITIVE_INFINITY
      for (const o of outstanding.values()) {
        if (!o.stalled || o.raceable.length === 0 || o.controller.signal.aborted) continue
        const passed = new Set<SourceState>()
        while (o.raceable.length > 0) {
          let best: SourceState | undefined
          for (const t of live.values()) {
            if (t === o.source || t.stalled || t.inFlight >= pipeline(t) || passed.has(t)) continue
            // a source that has not answered yet is tried only when idle: it may be as slow
            if (t.secondsPerRequest === 0 ? t.inFlight > 0 : now - o.started < RACE_FACTOR * t.secondsPerRequest * 1000) {
              if (t.secondsPerRequest > 0) next = Math.min(next, o.started + RACE_FACTOR * t.secondsPerRequest * 1000)
              continue
            }
            if (best === undefined || eta(t) < eta(best)) best = t
          }
          if (best === undefined) break // nobody else can take them now: they wait for room or for the stalled source
          passed.add(best)
          race(o, best)
        }
      }
      return next
    }

    /** Hand out work; returns when to look again if nothing else happens (ms, performance.now() clock). */
    const dispatch = (): number => {
      if (failure !== undefined) return Number.POSITIVE_INFINITY
      if (reaskAt !== undefined && performance.now() >= reaskAt) {
        // a patient fetch: sources that lacked blocks may hold them now
        reaskAt = undefined
        holders.forgetLacking(wanted.map(keyOf))
      }
      // ask about holders in large groups, or when nothing else is in flight: a question per tree node would
      // cost a stream per node and peer; blocks not asked about yet count as held by everyone
      // (while every source has had every block it was asked about, a swarm of full seeders, asking again is waste)
      if ((unqueried.length >= HAVES_BATCH && partialSeen) || (unqueried.length > 0 && outstanding.size === 0)) queryHaves()
      sortByRarity()
      const now = performance.now()
      let fastest = Number.POSITIVE_INFINITY
      for (const s of live.values()) if (s.secondsPerRequest > 0) fastest = Math.min(fastest, s.secondsPerRequest)
      // stalled blocks first: they are the oldest, and may hold up the walk
      findStalls(now, fastest)
      let next = raceStalled(now)
      const skip = new Set<string>() // sources that hold none of what is left this round
      const idleStart = outstanding.size === 0
      while (wanted.length > 0 && failure === undefined) {
        const top = wanted[wanted.length - 1]!
        const topKey = keyOf(top)
        const nope = holders.lackers(topKey)
        let best: SourceState | undefined
        for (const s of live.values()) {
          // a stalled source gets nothing while a request of it is out; once idle, one block to see if it is back
          if (s.inFlight >= pipeline(s) || (s.stalled && s.inFlight > 0) || skip.has(s.source.id)) continue
          if (nope?.has(s.source.id) === true && skip.size === 0) continue
          // a likely holder first (no round trip spent on a peer that lacks the whole DAG); then the soonest
          // to answer; among equals, the source that gave least so far: a crowd spreads its load over the seeders
          if (best === undefined || better(s, best, topKey)) best = s
        }
        if (best === undefined) {
          const candidates = [...live.values()].filter(s => nope?.has(s.source.id) !== true)
          if (candidates.length === 0 && working() === 0) {
            if (patient()) next = Math.min(next, waitForHolders(now))
            else failure = failed(live.size === 0 ? `no source could serve ${top}` : `no source has block ${top}`)
          }
          break
        }
        const room = best.stalled ? 1 : batchSize
        const batch: CID[] = []
        let batchBytes = 0
        for (let i = wanted.length - 1; i >= 0 && batch.length < room && batchBytes < requestBytes; i--) {
          if (holders.lacks(keyOf(wanted[i]!), best.source.id)) continue
          // with nothing in flight, wait for holders' answers (rarest first needs them), but no longer than
          // HAVES_WAIT_MS: waiting for the slowest of many seeders to list what it holds stalled whole swarms;
          // with requests in flight, answers queue behind block data, so do not wait
          const due = awaitingHaves.get(keyOf(wanted[i]!))
          if (idleStart && due !== undefined && due > now) { next = Math.min(next, due); continue }
          batch.push(wanted[i]!)
          batchBytes += leafSize.get(keyOf(wanted[i]!)) ?? UNKNOWN_BLOCK_BYTES
          wantedKeys.delete(keyOf(wanted[i]!))
          wanted.splice(i, 1)
        }
        if (batch.length === 0) {
          skip.add(best.source.id)
          continue
        }
        send(best, batch)
      }
      // endgame: nothing left to hand out, so an idle source races a request that runs late (twice as long as
      // its source, or the fastest source, usually takes); the loser is cancelled when the winner's blocks are stored
      if (wanted.length === 0 && failure === undefined) {
        for (const idle of live.values()) {
          if (idle.inFlight > 0 || idle.stalled) continue
          let oldest: Outstanding | undefined
          for (const o of outstanding.values()) {
            if (o.raced || o.source === idle || o.controller.signal.aborted) continue
            if (oldest !== undefined && o.started >= oldest.started) continue
            const usual = Math.max(o.source.secondsPerRequest, Number.isFinite(fastest) ? fastest : 0, 0.05)
            // a request to a stalled source (its one-block probe) is late at once: nothing else holds up the end
            if (!o.source.stalled && (now - o.started) / 1000 < 2 * usual) continue // not late yet
            // the costly check last: with many peers and requests it ran for every pair at every tick
            if (o.cids.some(c => holders.lacks(keyOf(c), idle.source.id))) continue
            oldest = o
          }
          if (oldest === undefined) continue
          options.onProgress?.({ type: 'fetch:endgame', source: idle.source.id, blocks: oldest.raceable.length })
          if (oldest.source.stalled || oldest.stalled) race(oldest, idle)
          else steal(oldest, idle)
        }
        next = Math.min(next, now + ENDGAME_TICK_MS)
      }
      // wake when a request in flight (sent just now too) would turn stalled
      for (const o of outstanding.values()) if (!o.stalled && !o.controller.signal.aborted) next = Math.min(next, stallDue(o, fastest))
      return next
    }

    /**
     * Blocks `from` delivered are no longer wanted of the requests racing it: taken back from their sources
     * (those that can), so a seeder does not go on sending what arrived from another.
     */
    const cancelRaced = (from: Outstanding, blocks: Block[]): void => {
      for (const o of outstanding.values()) {
        if (o === from || !o.raced || o.controller.signal.aborted || o.cancel === undefined) continue
        const back: CID[] = []
        for (const b of blocks) if (o.open.delete(keyOf(b.cid))) back.push(b.cid)
        if (back.length > 0) o.cancel(back)
      }
    }

    /** Cancel requests whose blocks have all been stored meanwhile (by a racing request). */
    const cancelSatisfied = async (): Promise<void> => {
      for (const o of outstanding.values()) {
        // only raced requests ask for blocks another request also asks for
        if (!o.raced || o.controller.signal.aborted) continue
        let all = true
        for (const c of o.cids) if (!await store.has(c)) { all = false; break }
        if (all) o.controller.abort()
      }
    }

    const ask = async (s: SourceState, entry: Outstanding): Promise<void> => {
      const { source } = s
      const batch = entry.cids
      const signal = options.signal === undefined ? entry.controller.signal : AbortSignal.any([options.signal, entry.controller.signal])
      let answer: BlockAnswer | undefined
      let error: unknown
      // blocks of a long answer are stored a batch at a time: a store write and a walk per message cost more than
      // they gained (forty nodes on one core fell behind)
      let held: Block[] = []
      let heldBytes = 0
      const onBlocks = async (blocks: Block[], wireBytes: number): Promise<void> => {
        if (closed) return
        countWire(source, wireBytes)
        entry.progressAt = performance.now()
        s.failures = 0
        s.stalled = false // it answers again
        held.push(...blocks)
        for (const b of blocks) {
          heldBytes += b.bytes.length
          entry.arrived.add(keyOf(b.cid))
        }
        if (heldBytes < STREAM_STORE_BYTES) return
        const batch = held
        held = []
        heldBytes = 0
        handling++
        try {
          if (!await take(s, entry, batch)) {
            await giveBack(entry, kept(entry))
            entry.controller.abort()
          }
        } finally {
          handling--
          wake?.()
        }
      }
      try {
        answer = await source.request(batch, { signal, onBlocks, onCancel: cancel => { entry.cancel = cancel } })
        if (held.length > 0) answer = { ...answer, blocks: [...held, ...answer.blocks] }
      } catch (err) {
        error = err
      }
      handling++
      try {
        await (answer === undefined ? onFailure(s, entry, error) : onAnswer(s, entry, answer))
      } finally {
        handling--
      }
    }

    const onFailure = async (s: SourceState, entry: Outstanding, err: unknown): Promise<void> => {
      const { source } = s
      if (options.signal?.aborted === true) throw new AbortError()
      if (entry.controller.signal.aborted) return // cancelled: another source delivered these blocks
      why.set(source.id, (err as Error).message)
      // a stream can fail on its own; a source is dropped after MAX_FAILURES failures in a row
      if (++s.failures >= MAX_FAILURES && isLive(s)) {
        live.delete(source.id)
        options.onProgress?.({ type: 'fetch:source-failed', source: source.id, error: (err as Error).message })
      }
      await giveBack(entry, kept(entry))
    }

    const countWire = (source: BlockSource, bytes: number): void => {
      result.wire[source.id] = (result.wire[source.id] ?? 0) + bytes
      result.wireBytes += bytes
    }

    const onAnswer = async (s: SourceState, entry: Outstanding, answer: BlockAnswer): Promise<void> => {
      const { source } = s
      if (closed) return
      s.failures = 0
      s.stalled = false // it answers again
      // what crossed the network is counted even when the answer is then thrown away
      countWire(source, answer.wireBytes ?? answer.blocks.reduce((n, b) => n + b.bytes.length, 0))
      const took = (performance.now() - entry.started) / 1000
      const average = s.secondsPerRequest === 0 ? took : s.secondsPerRequest * 0.7 + took * 0.3
      // an answer that stalled shows what the source takes now (a throttle after its first burst): not averaged away
      s.secondsPerRequest = entry.stalled ? Math.max(average, took) : average
      s.answered++
      s.quickest = Math.min(s.quickest, took)
      if (!await take(s, entry, answer.blocks)) {
        await giveBack(entry, kept(entry))
        return
      }
      // what was neither sent nor (honestly) refused is asked of someone else; the refusal is remembered
      for (const c of [...entry.open.values()]) {
        entry.open.delete(keyOf(c))
        holders.lack(keyOf(c), source.id) // (if it said it had the block, it no longer counts as a holder)
        s.lacked = true
        partialSeen = true
        await giveBack(entry, [c])
      }
    }

    /**
     * Blocks from `s` for `entry` (a whole answer or one message of it): verified, stored, their links walked.
     * False when nothing of the source is trusted: it sent a bad block, or was dropped while this was out.
     */
    const take = async (s: SourceState, entry: Outstanding, blocks: Block[]): Promise<boolean> => {
      const { source } = s
      if (!isLive(s)) return false
      const good: Block[] = []
      for (const b of blocks) {
        if (!entry.open.delete(keyOf(b.cid))) continue // not asked for: ignored, never stored
        let corrupt = false
        const hasher = await getHasher(b.cid.multihash.code)
        // timed alone: an await inside the timing would count whatever else ran meanwhile as verification
        const v0 = performance.now()
        try {
          checkDigest(hasher, b.cid, b.bytes, `peer ${source.id}`)
        } catch (err) {
          if (!(err instanceof BlockCorruptError)) throw err
          corrupt = true
        }
        result.verifySeconds += (performance.now() - v0) / 1000
        if (corrupt || !isLive(s)) {
          // one bad block and nothing from this source is trusted; only the first to find out reports it
          if (isLive(s)) {
            live.delete(source.id)
            why.set(source.id, `sent a block that does not match ${b.cid}`)
            options.onProgress?.({ type: 'fetch:bad-block', cid: b.cid.toString(), source: source.id })
            source.misbehaved?.(`sent a block that does not match ${b.cid}`)
          }
          return false
        }
        good.push(b)
      }
      if (good.length === 0 || closed) return true
      // the budget is checked before storing: a block past it is never written
      let added = 0
      for (const b of good) if (seen.get(keyOf(b.cid)) === false) added += b.bytes.length
      if (dagBytes + added > maxBytes) throw new DagTooLargeError(root.toString(), 'bytes', maxBytes)
      dagBytes += added
      for (const b of good) seen.set(keyOf(b.cid), true)
      const put = store.putMany(good, session)
      storing.add(put)
      const r = await put.finally(() => storing.delete(put))
      if (closed) return true
      result.fetchedBlocks += r.newBlocks
      result.fetchedBytes += r.newBytes
      cancelRaced(entry, good)
      let bytes = 0
      for (const b of good) { bytes += b.bytes.length; expand(b.cid, b.bytes, source.id) }
      result.sources[source.id] = (result.sources[source.id] ?? 0) + bytes
      s.delivered += bytes
      s.rateBytes += bytes
      source.verified?.(bytes)
      lastProgress = performance.now()
      options.onProgress?.({ type: 'fetch:blocks', blocks: result.fetchedBlocks, bytes: result.fetchedBytes, source: source.id })
      await settleLocal()
      await cancelSatisfied()
      return true
    }

    for (;;) {
      if (options.signal?.aborted === true) throw new AbortError()
      let next = dispatch()
      if (failure !== undefined) throw failure
      // done once nothing is wanted and every request still out was cancelled (a source may never answer a cancel)
      if (wantedKeys.size === 0 && pendingLocal.length === 0 && requestsOut() === 0 && handling === 0) break
      if (working() === 0) {
        next = dispatch()
        if (failure !== undefined) throw failure
        if (working() === 0) {
          if (!patient()) throw failed('no source can serve the remaining blocks')
          next = Math.min(next, waitForHolders(performance.now()))
        }
      }
      // wait for an answer, for a source to join, or for a request to turn stalled (or, in the endgame, late)
      let timer: NodeJS.Timeout | undefined
      const onAbort = (): void => wake?.()
      options.signal?.addEventListener('abort', onAbort, { once: true })
      await new Promise<void>(resolve => {
        wake = resolve
        if (Number.isFinite(next)) timer = setTimeout(resolve, Math.max(1, next - performance.now()))
      })
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      wake = undefined
    }
    if (options.pin ?? true) await store.pin(root, options.pinOwner)
    else await store.markComplete(root)
    result.seconds = (performance.now() - started) / 1000
    return result
  } finally {
    // nothing more is asked, stored or counted: requests still out are cancelled and their answers ignored
    closed = true
    for (const o of outstanding.values()) o.controller.abort()
    stop.abort()
    unwatch?.()
    await Promise.allSettled(storing)
    session.end()
  }
}

/**
 * The links of a block to walk, noting the sizes a cmesh file or directory node gives its raw leaves: such a node
 * is decoded once for both; other blocks (manifests, DAG-PB) give their links without sizes.
 */
function linksOf (cid: CID, bytes: Uint8Array, sizes: Map<string, number>): CID[] {
  if (cid.code !== CODEC_DAG_CBOR) return blockLinks(cid, bytes)
  let node: DagNode
  try {
    node = decodeNode(cid, bytes)
  } catch {
    return blockLinks(cid, bytes)
  }
  const links: CID[] = []
  if (node.type === 'file') {
    for (const l of node.links) {
      links.push(l.cid)
      if (l.cid.code === CODEC_RAW) sizes.set(keyOf(l.cid), l.size)
    }
  } else {
    for (const e of node.entries ?? []) {
      if (e.cid === undefined) continue // a symlink
      links.push(e.cid)
      if (e.kind === 'file' && e.cid.code === CODEC_RAW) sizes.set(keyOf(e.cid), e.size)
    }
    for (const p of node.parts ?? []) links.push(p.cid)
  }
  return links
}
