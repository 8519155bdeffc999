import {
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_MAX_PENDING_REQUESTS,
  DEFAULT_THROTTLE_MS,
  DUPLICATE_MEMORY,
  MAX_GUARDED_PEERS,
  STRIKE_SCORE,
  THROTTLED_WEIGHT
} from './constants.js'

export interface FloodOptions {
  /** Answers queued for one peer beyond which each new request is a strike. @default 16 (DEFAULT_MAX_PENDING_REQUESTS) */
  maxPendingRequests?: number
  /** Wanting a block again this soon after we sent it is a strike (ms). @default 30000 (DEFAULT_DUPLICATE_WINDOW_MS) */
  duplicateWindowMs?: number
  /** A peer with a strike is throttled this long (ms). @default 30000 (DEFAULT_THROTTLE_MS) */
  throttleMs?: number
}

export type StrikeReason = 'flood' | 'duplicate' | 'ignored-cancel'

interface PeerRecord {
  pending: number
  strikes: number
  throttledUntil: number
  /** Block keys sent lately, oldest first, with when. */
  sent: Map<string, number>
}

/**
 * Spots peers that take more than their turn: one that keeps more requests waiting than a fetcher needs
 * (`maxPendingRequests`), that asks again for blocks we sent it moments ago, or that cancels and asks again.
 * Each strike costs score (`onStrike`) and throttles the peer for `throttleMs`: its scheduler weight is
 * multiplied by 0.25, so it waits behind everyone else but is not cut off.
 */
export class FloodGuard {
  private readonly peers = new Map<string, PeerRecord>()
  private readonly maxPending: number
  private readonly duplicateMs: number
  private readonly throttleMs: number

  constructor (
    options: FloodOptions = {},
    private readonly onStrike: (peer: string, reason: StrikeReason, score: number) => void = () => {},
    private readonly now: () => number = Date.now
  ) {
    this.maxPending = options.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS
    this.duplicateMs = options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS
    this.throttleMs = options.throttleMs ?? DEFAULT_THROTTLE_MS
  }

  private record (peer: string): PeerRecord {
    let r = this.peers.get(peer)
    if (r === undefined) {
      this.peers.set(peer, r = { pending: 0, strikes: 0, throttledUntil: 0, sent: new Map() })
      // new identities cost nothing to make: past the cap, the oldest records of peers with nothing pending and no
      // throttle in force go (each may hold DUPLICATE_MEMORY keys), so memory does not grow with identities
      if (this.peers.size > MAX_GUARDED_PEERS) {
        const now = this.now()
        for (const [id, old] of this.peers) {
          if (this.peers.size <= MAX_GUARDED_PEERS) break
          if (old !== r && old.pending === 0 && old.throttledUntil <= now) this.peers.delete(id)
        }
      }
    }
    return r
  }

  /** Peers with a record (bounded by MAX_GUARDED_PEERS but for those with requests pending or throttled). */
  get size (): number {
    return this.peers.size
  }

  strike (peer: string, reason: StrikeReason): void {
    const r = this.record(peer)
    r.strikes++
    r.throttledUntil = this.now() + this.throttleMs
    this.onStrike(peer, reason, STRIKE_SCORE)
  }

  /** A request from `peer` for `keys` (block keys) arrives. */
  request (peer: string, keys: string[]): void {
    const r = this.record(peer)
    r.pending++
    if (r.pending > this.maxPending) this.strike(peer, 'flood')
    const t = this.now()
    let dup = 0
    for (const k of keys) {
      const at = r.sent.get(k)
      if (at !== undefined && t - at < this.duplicateMs) dup++
    }
    // a block or two may be asked again honestly (a lost answer, a raced request); most of a request is not
    if (dup > 0 && dup * 2 >= keys.length) this.strike(peer, 'duplicate')
  }

  /** A request of `peer` was answered (or given up). */
  done (peer: string): void {
    const r = this.peers.get(peer)
    if (r !== undefined) r.pending = Math.max(0, r.pending - 1)
  }

  /** We sent `peer` these blocks. */
  sent (peer: string, keys: string[]): void {
    const r = this.record(peer)
    const t = this.now()
    for (const k of keys) {
      r.sent.delete(k)
      r.sent.set(k, t)
    }
    while (r.sent.size > DUPLICATE_MEMORY) r.sent.delete(r.sent.keys().next().value!)
  }

  /** `peer` cancelled these blocks: they are not counted as sent (asking again later is honest). */
  cancelled (peer: string, keys: string[]): void {
    const r = this.peers.get(peer)
    if (r !== undefined) for (const k of keys) r.sent.delete(k)
  }

  throttled (peer: string): boolean {
    return (this.peers.get(peer)?.throttledUntil ?? 0) > this.now()
  }

  /** Weight factor: 0.25 while throttled, else 1. */
  factor (peer: string): number {
    return this.throttled(peer) ? THROTTLED_WEIGHT : 1
  }

  strikes (peer: string): number {
    return this.peers.get(peer)?.strikes ?? 0
  }
}
