/** What the parts of one fetch share: its sources, its requests out, its result, and the clock it runs on. */
import type { CID } from 'multiformats/cid'
import { FetchFailedError, InvalidOptionError } from '../../errors.js'
import type { Blockstore } from '../../store/interface.js'
import type { BlockSource, FetchOptions, FetchProgressEvent, FetchResult } from './fetch-interface.js'
import { Holders } from './holders.js'
import { SourceStats } from './source-stats.js'
import { systemClock, type Clock } from '../../clock.js'

export { systemClock, type Clock }

export type FetchStore = Pick<Blockstore, 'getSync' | 'has' | 'putMany' | 'pin' | 'markComplete' | 'openSession'>

/** Bytes asked for in one request at most (FetchOptions.requestBytes). */
const REQUEST_BYTES = 1024 * 1024

/** A block request in flight. */
export interface Outstanding {
  cids: CID[]
  /** Its blocks not yet received, by key. */
  open: Map<string, CID>
  /** Keys of blocks that came and wait to be stored with the next batch (still in `open` until then). */
  arrived: Set<string>
  /** Keys of blocks handed to another source by a steal: never given back from this request. */
  taken: Set<string>
  source: SourceStats
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

/** `value` as a limit: a number >= 0, or unlimited when not given. */
function limit (name: string, value: number | undefined): number {
  if (value === undefined) return Number.POSITIVE_INFINITY
  if (!(value >= 0)) throw new InvalidOptionError(`${name} must be a number >= 0, got ${value}`)
  return value
}

export class FetchSession {
  readonly started: number
  readonly batchSize: number
  readonly requestBytes: number
  readonly maxBytes: number
  readonly maxBlocks: number
  readonly patienceMs: number
  readonly result: FetchResult
  readonly holders: Holders
  /** Sources still in the fetch, by id (a source dropped or gone is no longer here). */
  readonly live: Map<string, SourceStats>
  /** Every source that took part, for the error that ends a failed fetch. */
  readonly tried: string[]
  /** Why each source that failed was given up or passed over, for that error. */
  readonly why = new Map<string, string>()
  /** Block requests out, by id. */
  readonly outstanding = new Map<number, Outstanding>()
  /** The fetch has ended: nothing more is asked, stored or counted. */
  closed = false
  /** What a request's handling threw: the fetch ends with it. */
  failure: Error | undefined
  /** Haves questions out. */
  asking = 0
  /**
   * Answers being handled (verified, stored, their links walked). A cancelled request can still be in here: the
   * racer that won cancels it while it stores the same blocks and walks their links, and what that walk finds
   * is wanted only after a store lookup. The fetch is not over until these are done.
   */
  handling = 0
  /** Ends the fetch loop's wait (set while it waits). */
  wake: (() => void) | undefined
  /** When the last verified block arrived (or the root was found held): a patient fetch waits this long for holders. */
  private lastProgress = Number.NEGATIVE_INFINITY

  constructor (
    readonly store: FetchStore,
    readonly root: CID,
    sources: BlockSource[],
    readonly options: FetchOptions = {},
    readonly clock: Clock = systemClock
  ) {
    this.started = clock.now()
    this.holders = new Holders(options.trading)
    this.batchSize = options.batchSize ?? 128
    this.requestBytes = options.requestBytes ?? REQUEST_BYTES
    this.maxBytes = limit('maxBytes', options.maxBytes)
    this.maxBlocks = limit('maxBlocks', options.maxBlocks)
    this.patienceMs = limit('patienceMs', options.patienceMs ?? 0)
    this.result = { cid: root, fetchedBlocks: 0, fetchedBytes: 0, sources: {}, wire: {}, wireBytes: 0, duplicates: 0, stolen: 0, verifySeconds: 0, seconds: 0 }
    this.live = new Map(sources.map(s => [s.id, new SourceStats(s, clock)]))
    this.tried = sources.map(s => s.id)
  }

  emit (event: FetchProgressEvent): void {
    this.options.onProgress?.(event)
  }

  /** A source joins mid-fetch (one already in it stays as it is). */
  join (source: BlockSource): void {
    if (this.live.has(source.id)) return
    this.live.set(source.id, new SourceStats(source, this.clock))
    if (!this.tried.includes(source.id)) this.tried.push(source.id)
    this.options.trading?.joined(source.id)
    this.wake?.()
  }

  /** Whether `s` is still in the fetch (not dropped, nor replaced by a rejoin). */
  isLive (s: SourceStats): boolean {
    return this.live.get(s.source.id) === s
  }

  failed (message: string): FetchFailedError {
    const why = this.why.size === 0 ? message : `${message}; ${[...this.why].map(([id, reason]) => `${id}: ${reason}`).join('; ')}`
    return new FetchFailedError(why, this.tried)
  }

  /** A verified block arrived (or the root was found held). */
  progressed (): void {
    this.lastProgress = this.clock.now()
  }

  /** Whether a patient fetch still waits for holders rather than failing. */
  patient (): boolean {
    return this.clock.now() - this.lastProgress < this.patienceMs
  }

  /** Requests in flight to `s` at most: options.perSource, else sized by its throughput. */
  room (s: SourceStats): number {
    return this.options.perSource ?? s.pipeline(this.requestBytes)
  }

  /** The usual time of the fastest source that has answered (seconds; infinite while none has). */
  fastest (): number {
    let fastest = Number.POSITIVE_INFINITY
    for (const s of this.live.values()) if (s.secondsPerRequest > 0) fastest = Math.min(fastest, s.secondsPerRequest)
    return fastest
  }

  /** Block requests still expected to deliver something: not cancelled (a cancelled one may never settle). */
  requestsOut (): number {
    let n = 0
    for (const o of this.outstanding.values()) if (!o.controller.signal.aborted) n++
    return n
  }

  /** Anything out that may yet bring blocks, or news of who holds them. */
  working (): number {
    return this.requestsOut() + this.asking + this.handling
  }
}
