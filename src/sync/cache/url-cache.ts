import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { cat, stat } from '../../dag/exporter.js'
import { BadClaimError, CmeshError, OriginStatusError, UrlUnavailableError } from '../../errors.js'
import { GdsfPolicy } from '../../policy/cache/eviction.js'
import { isFresh, isPrivateRequest, type Headers } from '../../policy/cache/http-cache.js'
import { Popularity } from '../../policy/cache/popularity.js'
import { owners, type Member } from '../../policy/cache/rendezvous.js'
import {
  ASK_AROUND_PEERS, ASK_AROUND_TIMEOUT_MS, HIT_FOR_PASS_MS, MAX_FORWARDED_PER_PEER, MEMBERS_VIEW_MS, CACHE_PIN,
  DEFAULT_CACHE_BYTES, DEFAULT_CACHE_SHARE, DEFAULT_MAX_OBJECT_BYTES, DEFAULT_OWNERS, POPULARITY_HALF_LIFE_MS,
  PREFETCH_IDLE_MS, PREFETCH_INTERVAL_MS, PREFETCH_PER_ROUND, STATUS_TOP_URLS
} from './constants.js'
import { fetchDag } from '../fetch/fetcher.js'
import type { UrlClaim } from './url-claims.js'
import { UrlCommunity } from './url-community.js'
import { UrlIndex, type UrlEntry } from './url-index.js'
import { UrlShelf } from './url-shelf.js'
import { fromOrigin, type OriginSide } from './url-origin-fetch.js'
import type { CacheEvent, FetchUrlOptions, UrlCacheComponents, UrlCacheOptions, UrlCacheStats, UrlResponse } from './url-cache-interface.js'
import type { Outcome } from './outcome.js'
import { DestinationGuard } from './destination.js'
import { drain, forwardable, lowerHeaders, normalizeUrl, originRequest, passedResponse, type OriginResponse } from './url-origin.js'

export type { CacheEvent, FetchUrlOptions, UrlCacheComponents, UrlCacheOptions, UrlCacheStats, UrlResponse } from './url-cache-interface.js'
export { describeResponse } from './url-cache-interface.js'
export { normalizeUrl } from './url-origin.js'

/**
 * The community cache: `fetchUrl(url)` serves a URL from this node's store when fresh; otherwise from a member
 * that claims it (bytes verified against the signed CID), from the URL's owner (which downloads it once for
 * everyone: concurrent requests across the community meet there), or from the origin. Stale entries are
 * revalidated (If-None-Match / If-Modified-Since); with the origin unreachable they are served stale, and a URL
 * nobody holds fails with ERR_URL_UNAVAILABLE.
 */
export class UrlCache {
  readonly index: UrlIndex
  readonly community: UrlCommunity
  readonly popularity: Popularity
  readonly policy = new GdsfPolicy()
  /** What the cache keeps within its budget. */
  private readonly shelf: UrlShelf
  /** What a trip to the origin needs of the cache (see url-origin-fetch.ts). */
  private readonly originSide: OriginSide
  private readonly inflight = new Map<string, Promise<Outcome>>()
  /** URLs whose responses were found not shareable, until when: they go straight to the origin (hit-for-pass). */
  private readonly uncacheable = new Map<string, number>()
  /** Downloads running here at each member's request. */
  private readonly forwarded = new Map<string, number>()
  private readonly listeners = new Set<(e: CacheEvent) => void>()
  private readonly self: string
  readonly cacheBytes: number
  private readonly k: number
  private readonly maxObjectBytes: number
  /** Where the cache may fetch what it shares, and what peers may ask it to fetch. */
  readonly destinations: DestinationGuard
  private prefetchTimer: NodeJS.Timeout | undefined
  private lastActivity = 0
  private running = 0
  private membersView: { at: number, members: Member[], signature: string } | undefined
  private readonly ownersMemo = new Map<string, string[]>()
  private readonly counters = { hits: 0, misses: 0, externalBytes: 0, peerBytes: 0, storeBytes: 0, savedBytes: 0, servedBytes: 0 }

  constructor (private readonly components: UrlCacheComponents, private readonly options: UrlCacheOptions = {}) {
    const { store } = components
    this.self = components.libp2p.peerId.toString()
    this.index = new UrlIndex(store.repo)
    this.policy.inflation = this.index.inflation
    this.popularity = new Popularity(options.popularityHalfLifeMs ?? POPULARITY_HALF_LIFE_MS)
    const storeCapacity = Number.isFinite(store.capacity) && store.capacity > 0 ? store.capacity : undefined
    this.cacheBytes = options.cacheBytes ?? (storeCapacity !== undefined ? Math.floor(storeCapacity * DEFAULT_CACHE_SHARE) : DEFAULT_CACHE_BYTES)
    this.k = options.owners ?? DEFAULT_OWNERS
    this.maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES
    this.destinations = new DestinationGuard({
      allowLoopback: options.allowLoopbackOrigins ?? process.env.CMESH_SHARE_LOOPBACK === '1',
      allowPrivate: options.allowPrivateOrigins ?? false
    })
    if (options.onCacheEvent !== undefined) this.listeners.add(options.onCacheEvent)
    this.originSide = {
      store,
      destinations: this.destinations,
      self: this.self,
      maxObjectBytes: this.maxObjectBytes,
      inflation: () => this.policy.inflation,
      emit: (kind, url, bytes) => { this.emit(kind, url, bytes) },
      touch: e => { this.touch(e) },
      distrust: peer => { this.community.distrust(peer) },
      keep: async (entry, fromOrigin) => await this.keep(entry, fromOrigin),
      pass: (url, until) => { this.uncacheable.set(url, until) }
    }
    this.shelf = new UrlShelf({
      store,
      index: this.index,
      popularity: this.popularity,
      policy: this.policy,
      collections: components.collections,
      owns: url => this.owners(url).includes(this.self),
      onEvict: (url, bytes) => { this.emit('evict', url, bytes) }
    }, this.cacheBytes)
    this.community = new UrlCommunity({
      libp2p: components.libp2p,
      pubsub: components.pubsub,
      privateKey: components.privateKey,
      serve: async (url, fetch, from) => await this.serve(url, fetch, from),
      status: () => ({ capacity: this.cacheBytes, free: this.freeCapacity(), top: this.popularity.top(STATUS_TOP_URLS) }),
      onStatus: s => { this.popularity.merge(s.peer, s.at, s.top) },
      // a claim for a URL that names a forbidden host literally is dropped (names are checked when fetched)
      accepts: url => URL.canParse(url) && this.destinations.literalReason(new URL(url).hostname) === undefined
    }, { statusIntervalMs: options.statusIntervalMs, ownerAskTimeoutMs: options.ownerAskTimeoutMs })
  }

  async start (): Promise<void> {
    // the cache's pins from before pins had owners read as the user's: claim them, or they could never be evicted
    for (const e of this.index.all()) if (e.cachePinned) await this.components.store.adoptLegacyPin(CID.parse(e.cid), CACHE_PIN)
    await this.community.start()
    const every = this.options.prefetchIntervalMs ?? PREFETCH_INTERVAL_MS
    if (every > 0) {
      this.prefetchTimer = setInterval(() => { void this.prefetch().catch(() => {}) }, every)
      this.prefetchTimer.unref()
    }
  }

  async stop (): Promise<void> {
    clearInterval(this.prefetchTimer)
    await this.community.stop()
    this.destinations.close()
    if (this.index.inflation !== this.policy.inflation) {
      this.index.inflation = this.policy.inflation
      this.index.changed()
    }
    this.index.flush()
  }

  /** Listen to cache events; returns a function that stops listening. */
  on (listener: (e: CacheEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private emit (kind: CacheEvent['kind'], url: string, bytes: number): void {
    if (kind === 'hit') this.counters.hits++
    if (kind === 'miss') this.counters.misses++
    if (kind === 'external') this.counters.externalBytes += bytes
    if (kind === 'peer') this.counters.peerBytes += bytes
    if (kind === 'store') this.counters.storeBytes += bytes
    if (kind === 'saved') this.counters.savedBytes += bytes
    for (const l of this.listeners) l({ kind, url, bytes })
  }

  stats (): UrlCacheStats {
    return {
      entries: this.index.size,
      usedBytes: this.index.usedBytes,
      cacheBytes: this.cacheBytes,
      members: this.community.memberCount() + 1,
      ...this.counters
    }
  }

  /**
   * Capacity this node offers the community cache (its ownership weight): the budget, bounded by what the
   * store can still take beyond the content the cache cannot evict.
   */
  freeCapacity (): number {
    const { store } = this.components
    if (!Number.isFinite(store.capacity) || store.capacity <= 0) return this.cacheBytes
    const other = Math.max(0, store.stat().bytes - this.index.usedBytes)
    return Math.max(0, Math.min(this.cacheBytes, store.capacity - other))
  }

  /** The URL's k owners among the live members, best first (memoised while the members and weights hold). */
  owners (url: string): string[] {
    const now = Date.now()
    if (this.membersView === undefined || now - this.membersView.at > MEMBERS_VIEW_MS) {
      const members = this.community.liveMembers({ id: this.self, weight: this.freeCapacity() })
      const signature = members.map(m => `${m.id}:${m.weight}`).sort().join(',')
      if (signature !== this.membersView?.signature) this.ownersMemo.clear()
      this.membersView = { at: now, members, signature }
    }
    let o = this.ownersMemo.get(url)
    if (o === undefined) {
      o = owners(url, this.membersView.members, this.k)
      if (this.ownersMemo.size > 100_000) this.ownersMemo.clear()
      this.ownersMemo.set(url, o)
    }
    return o
  }

  /** Fetch a URL through the community cache. */
  async fetchUrl (input: string, options: FetchUrlOptions = {}): Promise<UrlResponse> {
    const url = normalizeUrl(input)
    const headers = lowerHeaders(options.headers ?? {})
    this.lastActivity = Date.now()
    this.running++
    try {
      // private requests, and hosts that resolve to this machine or the LAN, are fetched for the asker alone
      if (isPrivateRequest(headers) || !await this.destinations.permits(new URL(url).hostname)) {
        const res = await this.direct(url, headers, options.signal, options.guard)
        return this.passResponse(url, res, 'private', options)
      }
      this.popularity.record(url)
      const held = this.usable(url)
      if (held !== undefined && isFresh(held.freshUntil, Date.now(), headers)) return this.hit(held)
      this.emit('miss', url, 0)
      let outcome: Outcome
      const running = this.inflight.get(url)
      if (running !== undefined) {
        // a download of this URL is under way here: wait for it instead of starting another
        const o = await running
        outcome = o.entry !== undefined ? { ...o, source: 'local', externalBytes: 0, peerBytes: 0 } : await this.obtain(url, false, options.signal, headers)
      } else {
        const p = this.obtain(url, false, options.signal, headers)
        this.inflight.set(url, p)
        try {
          outcome = await p
        } finally {
          if (this.inflight.get(url) === p) this.inflight.delete(url)
        }
      }
      if (outcome.pass !== undefined) return this.passResponse(url, outcome.pass, 'external', options, outcome.externalBytes)
      return this.respond(outcome.entry!, outcome)
    } finally {
      this.running--
      this.lastActivity = Date.now()
    }
  }

  /** The entry for `url` if its content is still in the store. */
  private usable (url: string): UrlEntry | undefined {
    const e = this.index.get(url)
    if (e === undefined) return undefined
    if (!this.components.store.isComplete(CID.parse(e.cid))) {
      this.index.delete(url)
      return undefined
    }
    return e
  }

  private hit (e: UrlEntry): UrlResponse {
    this.touch(e)
    this.emit('hit', e.url, e.size)
    return this.respond(e, { source: 'local', revalidated: false, stale: false, externalBytes: 0, peerBytes: 0 })
  }

  private touch (e: UrlEntry): void {
    e.base = this.policy.inflation
    e.lastUsed = Date.now()
    this.index.changed()
  }

  /**
   * The answer to a request, and its line in the ledger: HIT when the bytes came from this node's store, MEMBER
   * from a member that held them, MISS when the origin was contacted for them (here, or by the member that
   * fetched them for us). What did not cross the external link for this request is counted saved, here only.
   */
  private respond (e: UrlEntry, o: Omit<Outcome, 'entry' | 'pass'>): UrlResponse {
    const cid = CID.parse(e.cid)
    this.counters.servedBytes += e.size
    const cache = o.source === 'local' ? 'HIT' : o.source === 'peer' && o.ownerFetched !== true ? 'MEMBER' : 'MISS'
    const storeBytes = cache === 'HIT' ? e.size : 0
    const savedBytes = cache === 'MISS' ? 0 : e.size
    if (storeBytes > 0) this.emit('store', e.url, storeBytes)
    if (savedBytes > 0) this.emit('saved', e.url, savedBytes)
    return {
      url: e.url,
      status: 200,
      cid,
      size: e.size,
      headers: e.headers,
      source: o.source,
      cache,
      from: o.from,
      revalidated: o.revalidated,
      stale: o.stale,
      shared: true,
      externalBytes: o.externalBytes,
      peerBytes: o.peerBytes,
      storeBytes,
      savedBytes,
      body: range => cat(this.components.store, cid, range)
    }
  }

  private passResponse (url: string, res: OriginResponse, kind: 'private' | 'external', options: FetchUrlOptions, alreadyCounted = 0): UrlResponse {
    if (res.status !== 200 && (options.throwOnStatus ?? true)) {
      void drain(res.body)
      throw new OriginStatusError(url, res.status)
    }
    return passedResponse(url, res, n => { this.emit(kind, url, n); if (kind === 'private') this.emit('external', url, n) }, alreadyCounted)
  }

  private async direct (url: string, headers: Headers, signal?: AbortSignal, guard?: DestinationGuard): Promise<OriginResponse> {
    try {
      return await originRequest(new URL(url), { headers: forwardable(headers), signal, guard })
    } catch (err) {
      if (err instanceof CmeshError) throw err
      throw new UrlUnavailableError(url, (err as Error).message, { cause: err })
    }
  }

  /**
   * Get the URL's content into the store: revalidate what is held, else a member's claim, else its owner, else
   * the origin. `forwarded`: asked by a peer that sees this node as the owner (do not forward again).
   */
  private async obtain (url: string, forwarded: boolean, signal?: AbortSignal, request: Headers = {}): Promise<Outcome> {
    if (this.passes(url)) return await fromOrigin(this.originSide, url, undefined, signal)
    const held = this.usable(url)
    if (held !== undefined) {
      // fresh unless the request asks for revalidation (no-cache, max-age=0)
      if (isFresh(held.freshUntil, Date.now(), request)) {
        return {
          entry: held,
          source: 'local',
          revalidated: false,
          stale: false,
          externalBytes: 0,
          peerBytes: 0
        }
      }
      return await fromOrigin(this.originSide, url, held, signal)
    }
    // a node that has not heard from any member yet (just started) asks its peers directly
    if (this.community.memberCount() === 0) await this.community.askAround(url, ASK_AROUND_PEERS, ASK_AROUND_TIMEOUT_MS, signal)
    for (const claim of this.community.claimsFor(url)) {
      if (!isFresh(claim.freshUntil, Date.now())) continue
      try {
        return await this.fromPeer(claim, signal)
      } catch {
        this.community.forget(url, claim.peer)
      }
    }
    if (!forwarded) {
      const [owner] = this.owners(url)
      if (owner !== undefined && owner !== this.self) {
        try {
          const answer = await this.community.request(owner, url, true, signal)
          if (answer !== undefined) {
            const o = await this.fromPeer(answer.claim, signal)
            // the owner downloaded it for this request: the origin bytes crossed the link for us, at the owner
            return answer.fetched ? { ...o, ownerFetched: true, externalBytes: o.entry!.size } : o
          }
        } catch (err) {
          // the owner is gone, or could not get it (offline, an origin error): try the origin from here
          if ((err as CmeshError).code === 'ERR_NOT_SHAREABLE') this.uncacheable.set(url, Date.now() + HIT_FOR_PASS_MS)
        }
      }
    }
    return await fromOrigin(this.originSide, url, undefined, signal)
  }

  /** Was the URL's response found not shareable a short while ago? */
  private passes (url: string): boolean {
    const until = this.uncacheable.get(url)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.uncacheable.delete(url)
    return false
  }

  /** Fetch the DAG a claim names from its claimant (and other claimants of the same CID), then check its size. */
  private async fromPeer (claim: UrlClaim, signal?: AbortSignal): Promise<Outcome> {
    const { store } = this.components
    const peers = [claim.peer, ...this.community.claimsFor(claim.url).filter(c => c.peer !== claim.peer && c.cid.equals(claim.cid)).map(c => c.peer)]
    const result = await fetchDag(
      store,
      claim.cid,
      peers.map(p => this.components.blocks.source(peerIdFromString(p), p)),
      { pin: false, signal, maxBytes: claim.size + Math.ceil(claim.size / 16) + 1024 * 1024 }
    )
    const info = await stat(store, claim.cid)
    if (info.kind !== 'file' || info.size !== claim.size) {
      this.community.distrust(claim.peer)
      throw new BadClaimError(`${claim.peer} claimed ${claim.size} bytes for ${claim.url}; the DAG holds ${info.size}`)
    }
    const peerBytes = Object.values(result.sources).reduce((a, b) => a + b, 0)
    this.emit('peer', claim.url, peerBytes)
    const entry = await this.keep({
      url: claim.url,
      cid: claim.cid.toString(),
      size: claim.size,
      headers: claim.headers,
      fetchedAt: claim.fetchedAt,
      freshUntil: claim.freshUntil,
      claimant: claim.peer,
      cachePinned: false,
      base: this.policy.inflation,
      lastUsed: Date.now()
    }, false)
    return { entry, source: 'peer', from: claim.peer, revalidated: false, stale: false, externalBytes: 0, peerBytes }
  }

  /**
   * Keep an entry on the shelf (room made by GDSF eviction, never of protected content; the root pinned for the
   * cache), and announce the claim when this node fetched or confirmed it from the origin, or owns the URL.
   */
  private async keep (entry: UrlEntry, fromOrigin: boolean): Promise<UrlEntry> {
    await this.shelf.put(entry)
    if (fromOrigin || this.owners(entry.url).includes(this.self)) {
      const { url, size, headers, fetchedAt, freshUntil } = entry
      void this.community.signClaim({ url, cid: CID.parse(entry.cid), size, headers, fetchedAt, freshUntil })
        .then(async signed => { await this.community.announce(signed) })
        .catch(() => {})
    }
    return entry
  }

  /** Remove a URL from the cache (dropping the cache's pin of its root when no other URL uses it; others' pins stay). */
  async evict (url: string): Promise<void> {
    await this.shelf.evict(url)
  }

  /** A peer asks for a URL (fetching it first when it sees this node as the owner): our signed claim, or nothing. */
  private async serve (input: string, fetch: boolean, from: string): Promise<{ claim: Uint8Array, fetched: boolean } | undefined> {
    const url = normalizeUrl(input)
    // never this machine's own services, or the LAN's unless configured, on a peer's behalf (by resolved address)
    await this.destinations.resolve(new URL(url).hostname)
    let entry = this.usable(url)
    let fetched = false
    if (entry === undefined || !isFresh(entry.freshUntil, Date.now())) {
      if (!fetch) return undefined
      if (this.passes(url)) throw new CmeshError('ERR_NOT_SHAREABLE', `${url} is not shareable`)
      let running = this.inflight.get(url)
      const joined = running !== undefined
      if (running === undefined) {
        // a member may make this node download only what it owns, a few at a time: no one drives its link
        if (!this.owners(url).includes(this.self)) throw new CmeshError('ERR_NOT_OWNER', `${url} is not this node's to fetch`)
        if ((this.forwarded.get(from) ?? 0) >= MAX_FORWARDED_PER_PEER) throw new CmeshError('ERR_BUSY', `${from} has ${MAX_FORWARDED_PER_PEER} downloads running here`)
        this.forwarded.set(from, (this.forwarded.get(from) ?? 0) + 1)
        running = this.obtain(url, true)
        this.inflight.set(url, running)
        void running.finally(() => {
          if (this.inflight.get(url) === running) this.inflight.delete(url)
          const n = (this.forwarded.get(from) ?? 1) - 1
          if (n <= 0) this.forwarded.delete(from)
          else this.forwarded.set(from, n)
        }).catch(() => {})
      }
      const o = await running
      if (o.pass !== undefined) {
        void drain(o.pass.body)
        throw new CmeshError(o.pass.status === 200 ? 'ERR_NOT_SHAREABLE' : 'ERR_ORIGIN_STATUS', `${url} is not shareable`)
      }
      entry = o.entry!
      // the asker's ledger: this download from the origin was made for it (not for a request it joined)
      fetched = !joined && o.source === 'origin'
    }
    const { size, headers, fetchedAt, freshUntil } = entry
    return { claim: await this.community.signClaim({ url, cid: CID.parse(entry.cid), size, headers, fetchedAt, freshUntil }), fetched }
  }

  /**
   * Idle prefetch: when no request has run for PREFETCH_IDLE_MS, fetch from members the most popular URLs this
   * node owns but lacks, while they fit its free budget (peers' bytes, never the origin's).
   */
  async prefetch (): Promise<number> {
    if (this.running > 0 || Date.now() - this.lastActivity < (this.options.prefetchIdleMs ?? PREFETCH_IDLE_MS)) return 0
    const candidates = [...this.popularity.keys()]
      .filter(u => this.index.get(u) === undefined)
      .map(u => ({ url: u, pop: this.popularity.count(u) }))
      .sort((a, b) => b.pop - a.pop)
    let done = 0
    for (const c of candidates) {
      if (done >= PREFETCH_PER_ROUND) break
      if (!this.owners(c.url).includes(this.self)) continue
      const claim = this.community.claimsFor(c.url).find(cl => isFresh(cl.freshUntil, Date.now()))
      if (claim === undefined || this.index.usedBytes + claim.size > this.cacheBytes) continue
      try {
        await this.fromPeer(claim)
        done++
      } catch {
        this.community.forget(c.url, claim.peer)
      }
    }
    return done
  }
}
