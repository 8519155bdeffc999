/** The blocks a fetch still wants, in the order they are handed out (rarest first once holders have said). */
import type { CID } from 'multiformats/cid'
import { cidKey as keyOf } from '../../dag/cid.js'
import type { FetchSession } from './session.js'
import type { SourceStats } from './source-stats.js'

/** CIDs asked about in one haves question. */
const HAVES_BATCH = 1024
/** A source that does not say what it holds within this long is simply asked for blocks. */
const HAVES_TIMEOUT_MS = 2000
/** Longest a dispatch with nothing in flight waits for sources to say which blocks they hold. */
const HAVES_WAIT_MS = 100
/** A patient fetch asks again, this often, the sources that said they lack a block (they may have it by now). */
const PATIENCE_REASK_MS = 1000
/** What a block of unknown size (an interior node) is counted as in a request's bytes. */
const UNKNOWN_BLOCK_BYTES = 16 * 1024
/**
 * Blocks a trading fetch takes in the walk's (random) order before it goes rarest first by what peers said they
 * hold: a new downloader soon has something to trade (BitTorrent's random first pieces).
 */
const RANDOM_FIRST_BLOCKS = 4
/** Claims a sort by what trading peers said may look up (wanted blocks x sources): about 100 ms of work at most. */
const MAX_TRADING_SORT_LOOKUPS = 1_000_000
/** Blocks one takeFor passes over for other sources at most (what trading peers said): the scan is bounded. */
const MAX_PASSED = 1024
/** A trading fetch sorts again by what peers said at most this often (a have batch comes every 250 ms per peer). */
const TRADING_SORT_MS = 250

export class WantList {
  /** Wanted blocks; batches are taken from the end. */
  private readonly wanted: CID[] = []
  private readonly keys = new Set<string>()
  /** Wanted blocks nobody has been asked about yet. */
  private unqueried: CID[] = []
  /** Wanted blocks whose holders are still being asked: not handed out until the answers are in (or this time). */
  private readonly awaitingHaves = new Map<string, number>()
  private rarityDirty = false
  /** Some source lacked something it was asked about: from then on holders are asked about every block. */
  private partialSeen = false
  /** A patient fetch waiting for holders: when to ask again the sources that lacked what is left. */
  private reaskAt: number | undefined
  /** Aborts the haves questions still out when the fetch ends. */
  private readonly stop = new AbortController()
  /** The trading version the list was last sorted by, and when. */
  private sortedVersion = 0
  private sortedAt = Number.NEGATIVE_INFINITY
  /** Blocks every source lacked that were asked for once more (askAgain). */
  private readonly askedAgain = new Set<string>()
  /** Blocks every source lacked that were asked for again at once (reaskRefused). */
  private readonly reasked = new Set<string>()

  constructor (private readonly session: FetchSession) {}

  /** Blocks wanted and not handed out. */
  get size (): number {
    return this.keys.size
  }

  /** The block handed out next, if any. */
  top (): CID | undefined {
    return this.wanted.at(-1)
  }

  want (cid: CID): void {
    if (this.keys.has(keyOf(cid))) return
    this.keys.add(keyOf(cid))
    this.wanted.push(cid)
    if (!this.session.holders.asked(keyOf(cid))) this.unqueried.push(cid)
  }

  /** Put blocks back in the list, except those stored meanwhile (by a racing request). */
  async requeue (cids: CID[]): Promise<void> {
    for (const c of cids) if (!await this.session.store.has(c)) this.want(c)
  }

  /** `s` lacks block `key` (it said so, or did not send it when asked). */
  lack (s: SourceStats, key: string): void {
    this.session.holders.lack(key, s.source.id)
    // a claim it made of the block (holdings) counts against it
    this.session.options.trading?.denied(s.source.id, key)
    s.lacked = true
    this.partialSeen = true
  }

  /**
   * Up to `room` blocks for `s` from the end of the list, of requestBytes at most by the `sizes` known, none it
   * said it lacks. With nothing in flight (`idleStart`), blocks whose holders are still being asked wait for the
   * answers, but no longer than HAVES_WAIT_MS: `next` is when they may go.
   */
  takeFor (s: SourceStats, room: number, idleStart: boolean, now: number, sizes: ReadonlyMap<string, number>): { batch: CID[], next: number } {
    const { holders, requestBytes } = this.session
    const batch: CID[] = []
    let next = Number.POSITIVE_INFINITY
    let batchBytes = 0
    let passed = 0
    for (let i = this.wanted.length - 1; i >= 0 && batch.length < room && batchBytes < requestBytes; i--) {
      const cid = this.wanted[i]!
      // every live source refused it (a super-seeder sent us to peers that then did not send it): ask again now,
      // once, rather than once the whole fetch has drained
      if (holders.lacks(keyOf(cid), s.source.id) && !this.reaskRefused(keyOf(cid))) continue
      // what a trading peer said it holds goes to it, and what `s` said it lacks to another (bounded scan)
      if (this.elsewhere(s, keyOf(cid))) {
        if (++passed >= MAX_PASSED) break
        continue
      }
      // waiting for the slowest of many seeders to list what it holds stalled whole swarms; with requests in
      // flight, answers queue behind block data, so do not wait
      const due = this.awaitingHaves.get(keyOf(cid))
      if (idleStart && due !== undefined && due > now) { next = Math.min(next, due); continue }
      batch.push(cid)
      batchBytes += sizes.get(keyOf(cid)) ?? UNKNOWN_BLOCK_BYTES
      this.keys.delete(keyOf(cid))
      this.wanted.splice(i, 1)
    }
    return { batch, next }
  }

  /**
   * Whether block `key` should go to another source than `s` by what trading peers said: another live source (not
   * stalled, and that did not refuse the block) said it holds it and `s` did not, or `s` said it lacks it and some
   * other source may hold it.
   */
  private elsewhere (s: SourceStats, key: string): boolean {
    const { trading } = this.session.options
    if (trading === undefined) return false
    const claim = trading.holds(s.source.id, key)
    if (claim === true) return false
    for (const [id, other] of this.session.live) {
      // a stalled holder is no reason to wait: what it holds goes to whoever has room
      // nor one that refused it here (it may claim it again by a have before it is asked again)
      if (other === s || other.stalled || this.session.holders.lacks(key, id)) continue
      const c = trading.holds(id, key)
      if (c === true || (claim === false && c === undefined)) return true
    }
    return false
  }

  /**
   * Ask about holders in large groups, or when nothing else is in flight: a question per tree node would cost a
   * stream per node and peer; blocks not asked about yet count as held by everyone (while every source has had
   * every block it was asked about, a swarm of full seeders, asking again is waste). Then sort, rarest first.
   */
  order (): void {
    const n = this.unqueried.length
    if ((n >= HAVES_BATCH && this.partialSeen) || (n > 0 && this.session.outstanding.size === 0)) this.queryHaves()
    this.sortByRarity()
  }

  /** Ask every source that can say so which of the new wanted blocks it holds (rarest-first needs it). */
  private queryHaves (): void {
    const { session } = this
    const { trading } = session.options
    // blocks whose holders the trading peers have said are not asked about (see told)
    const cids = this.unqueried.filter(c => this.keys.has(keyOf(c)) && (trading === undefined || this.told(keyOf(c)) === undefined))
    this.unqueried = []
    const askable = [...session.live.values()].filter(s => s.source.haves !== undefined)
    for (const c of cids) session.holders.asking(keyOf(c))
    if (askable.length === 0) return
    for (let i = 0; i < cids.length; i += HAVES_BATCH) {
      const chunk = cids.slice(i, i + HAVES_BATCH)
      const deadline = session.clock.now() + HAVES_WAIT_MS
      for (const c of chunk) this.awaitingHaves.set(keyOf(c), deadline)
      let answers = askable.length
      for (const s of askable) {
        session.asking++
        const timeout = new AbortController()
        const timer = session.clock.setTimeout(() => timeout.abort(), HAVES_TIMEOUT_MS)
        void (async () => {
          const signal = AbortSignal.any([this.stop.signal, timeout.signal, ...(session.options.signal === undefined ? [] : [session.options.signal])])
          const have = new Set((await s.source.haves!(chunk, { signal })).map(keyOf))
          for (const c of chunk) {
            if (have.has(keyOf(c))) session.holders.hold(keyOf(c), s.source.id)
            else this.lack(s, keyOf(c))
          }
        })().catch(() => {}).finally(() => {
          session.clock.clearTimeout(timer)
          // once every source has answered (or failed to), these blocks are handed out, rarest first
          if (--answers === 0) for (const c of chunk) this.awaitingHaves.delete(keyOf(c))
          this.rarityDirty = true
          session.asking--
          session.wake?.()
        })
      }
    }
  }

  /**
   * How many live sources hold block `key` by what trading peers said: those that said they hold it and those that
   * said nothing of its file (a seeder, an old peer); undefined when no source said anything of it.
   */
  private told (key: string): number | undefined {
    const { trading } = this.session.options
    if (trading === undefined) return undefined
    let said = false
    let n = 0
    for (const id of this.session.live.keys()) {
      const claim = trading.holds(id, key)
      if (claim !== undefined) said = true
      if (claim !== false) n++
    }
    return said ? n : undefined
  }

  /** Whether what trading peers said changed enough, and long enough ago, to sort again. */
  private tradingChanged (): boolean {
    const { trading } = this.session.options
    if (trading === undefined || trading.version === this.sortedVersion) return false
    if (this.session.result.fetchedBlocks < RANDOM_FIRST_BLOCKS) return false
    // a claim looked up per wanted block and source: past this the list keeps its order (a huge DAG, a crowd)
    if (this.wanted.length * this.session.live.size > MAX_TRADING_SORT_LOOKUPS) return false
    const now = this.session.clock.now()
    if (now - this.sortedAt < TRADING_SORT_MS) return false
    this.sortedVersion = trading.version
    this.sortedAt = now
    return true
  }

  /** Rarest first: the list is kept so its end (where batches are taken) holds the blocks with fewest holders. */
  private sortByRarity (): void {
    if (!this.tradingChanged() && !this.rarityDirty) return
    this.rarityDirty = false
    // counts are computed once per sort (a key per comparison would cost more than the whole download)
    // a block nobody said anything of counts as held by every source; in a trading fetch it goes first instead:
    // such blocks are interior nodes (and files of one chunk), which lead the walk to the rest
    const unknown = this.session.options.trading === undefined ? this.session.live.size : 0
    const counts = this.wanted.map(c => this.told(keyOf(c)) ?? this.session.holders.count(keyOf(c)) ?? unknown)
    if (counts.every(n => n === counts[0])) return
    const order = counts.map((_, i) => i).sort((a, b) => counts[b]! - counts[a]!)
    const sorted = order.map(i => this.wanted[i]!)
    this.wanted.length = 0
    this.wanted.push(...sorted)
  }

  /** Whether every live source lacked block `key` and it was not asked again yet: then forget who lacked it. */
  private reaskRefused (key: string): boolean {
    const { holders, live } = this.session
    if ((holders.lackers(key)?.size ?? 0) < live.size || this.reasked.has(key)) return false
    for (const id of live.keys()) if (!holders.lacks(key, id)) return false
    this.reasked.add(key)
    holders.forgetLacking([key])
    return true
  }

  /**
   * Every source lacked block `key`: before giving up, ask once more for it and every other wanted block not asked
   * again yet, forgetting who lacked them (true when `key` had not been asked again). A super-seeder refuses a leaf
   * another peer holds the first time it is asked (super-seed.ts), and the asker may not reach that peer.
   */
  askAgain (key: string): boolean {
    if (this.askedAgain.has(key)) return false
    const keys = this.wanted.map(keyOf).filter(k => !this.askedAgain.has(k))
    for (const k of keys) this.askedAgain.add(k)
    this.session.holders.forgetLacking(keys)
    return true
  }

  /** A patient fetch waits for holders: returns when to ask again. */
  waitForHolders (now: number): number {
    this.reaskAt ??= now + PATIENCE_REASK_MS
    return this.reaskAt
  }

  /** Once it is time (see waitForHolders), forget who lacked what is left: they may hold it by now. */
  reaskIfDue (now: number): void {
    if (this.reaskAt === undefined || now < this.reaskAt) return
    this.reaskAt = undefined
    this.session.holders.forgetLacking(this.wanted.map(keyOf))
  }

  /** The fetch ended: questions still out are aborted. */
  close (): void {
    this.stop.abort()
  }
}
