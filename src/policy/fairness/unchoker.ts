import type { Ledger } from './ledger.js'
import {
  DEFAULT_OPTIMISTIC_INTERVAL_MS,
  DEFAULT_RECHOKE_INTERVAL_MS,
  DEFAULT_SEEDER_WEIGHT,
  DEFAULT_TAKER_WEIGHT,
  DEFAULT_UNCHOKE_SLOTS,
  DEFAULT_UNCHOKED_WEIGHT,
  NEWCOMER_MS,
  UNCHOKE_REFILL_MS
} from './constants.js'

export interface UnchokeOptions {
  /** Peers uploading to us most that are unchoked. @default 4 (DEFAULT_UNCHOKE_SLOTS) */
  slots?: number
  /** The optimistic slot rotates this often (ms). @default 30000 (DEFAULT_OPTIMISTIC_INTERVAL_MS) */
  optimisticIntervalMs?: number
  /** Unchoked peers are chosen again this often (ms). @default 10000 (DEFAULT_RECHOKE_INTERVAL_MS) */
  rechokeIntervalMs?: number
  /** Weight of an unchoked peer in the upload scheduler (choked peers weigh 1). @default 4 (DEFAULT_UNCHOKED_WEIGHT) */
  weight?: number
  /** Weight factor of a peer that gave us at least as much as it took (it keeps seeding). @default 2 (DEFAULT_SEEDER_WEIGHT) */
  seederWeight?: number
  /** Weight of a choked peer that never gave us anything, while others give. @default 0.25 (DEFAULT_TAKER_WEIGHT) */
  takerWeight?: number
}

export type ChokeState = 'unchoked' | 'optimistic' | 'choked'

/**
 * BitTorrent's choking algorithm, as weights for the upload scheduler: every 10 s the `slots` interested peers
 * that sent us the most verified bytes lately (tit for tat) are unchoked, and every 30 s one other interested peer
 * gets the optimistic slot (newcomers three times as likely), so a peer with nothing to give yet can earn its
 * place. Unchoked peers weigh `weight` in deficit round robin, choked peers 1: choked peers still get served
 * (a community does not starve its members), but after those who give back. While nobody uploads to us there is
 * no one to prefer, and no optimistic slot either: all peers weigh the same. A peer that has given us at least
 * as many bytes as it took (a downloader that kept seeding) weighs `seederWeight` times more on top. While others
 * give, a choked peer that never gave us anything (a free-rider) weighs `takerWeight`: it is still served, after
 * those who trade while the upload is contended. An unchoke slot left free is filled at once when a choked peer
 * starts giving (at most every UNCHOKE_REFILL_MS), not at the next rechoke: a download of seconds is over before
 * the rechoke.
 */
export class Unchoker {
  readonly unchoked = new Set<string>()
  optimistic: string | undefined
  private readonly slots: number
  private readonly optimisticMs: number
  private readonly rechokeMs: number
  private readonly boost: number
  private readonly seederBoost: number
  private readonly taker: number
  private nextRefill = Number.NEGATIVE_INFINITY
  private readonly interested = new Map<string, number>()
  private nextRechoke = Number.NEGATIVE_INFINITY
  private nextOptimistic = Number.NEGATIVE_INFINITY

  constructor (
    private readonly ledger: Pick<Ledger,
    'recentRate' | 'get'>,
    options: UnchokeOptions = {},
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random
  ) {
    this.slots = options.slots ?? DEFAULT_UNCHOKE_SLOTS
    this.optimisticMs = options.optimisticIntervalMs ?? DEFAULT_OPTIMISTIC_INTERVAL_MS
    this.rechokeMs = options.rechokeIntervalMs ?? DEFAULT_RECHOKE_INTERVAL_MS
    this.boost = options.weight ?? DEFAULT_UNCHOKED_WEIGHT
    this.seederBoost = options.seederWeight ?? DEFAULT_SEEDER_WEIGHT
    this.taker = options.takerWeight ?? DEFAULT_TAKER_WEIGHT
  }

  /** `peer` asked us for blocks now. */
  interest (peer: string): void {
    if (!this.interested.has(peer)) this.nextRechoke = Number.NEGATIVE_INFINITY // a newcomer: choose again at once
    this.interested.set(peer, this.now())
  }

  /** Choose unchoked and optimistic peers again when their intervals are due. */
  tick (): void {
    const t = this.now()
    if (t >= this.nextRefill && t < this.nextRechoke && this.unchoked.size < this.slots) {
      this.nextRefill = t + UNCHOKE_REFILL_MS
      for (const p of this.interested.keys()) {
        if (this.unchoked.has(p) || this.ledger.recentRate(p) <= 0) continue
        this.nextRechoke = t // a slot is free and a choked peer gives: choose again now
        break
      }
    }
    if (t < this.nextRechoke && t < this.nextOptimistic) return
    for (const [p, at] of this.interested) if (t - at > 2 * this.rechokeMs) this.interested.delete(p)
    if (t >= this.nextRechoke) {
      this.nextRechoke = t + this.rechokeMs
      const givers = [...this.interested.keys()].map(p => ({ p, rate: this.ledger.recentRate(p) })).filter(x => x.rate > 0)
      givers.sort((a, b) => b.rate - a.rate)
      this.unchoked.clear()
      for (const g of givers.slice(0, this.slots)) this.unchoked.add(g.p)
      if (this.optimistic !== undefined && (this.unchoked.has(this.optimistic) || !this.interested.has(this.optimistic))) this.nextOptimistic = t
    }
    if (this.unchoked.size === 0) {
      this.optimistic = undefined // nobody is preferred, so nobody needs a way in
    } else if (t >= this.nextOptimistic || this.optimistic === undefined) {
      this.nextOptimistic = t + this.optimisticMs
      const choked = [...this.interested.keys()].filter(p => !this.unchoked.has(p))
      this.optimistic = pick(choked, p => t - (this.ledger.get(p)?.firstSeen ?? t) < NEWCOMER_MS ? 3 : 1, this.random)
    }
  }

  state (peer: string): ChokeState {
    return this.unchoked.has(peer) ? 'unchoked' : this.optimistic === peer ? 'optimistic' : 'choked'
  }

  /** Whether `peer` gave us at least what it took from us, and something. */
  seeding (peer: string): boolean {
    const e = this.ledger.get(peer)
    return e !== undefined && e.received > 0 && e.received >= e.sent
  }

  /** The peer's weight in the upload scheduler. */
  weight (peer: string): number {
    const state = this.state(peer)
    if (state === 'choked' && this.unchoked.size > 0 && (this.ledger.get(peer)?.received ?? 0) === 0) return this.taker
    return (state === 'choked' ? 1 : this.boost) * (this.seeding(peer) ? this.seederBoost : 1)
  }
}

/** A random element, each with probability proportional to `w`. */
function pick (items: string[], w: (item: string) => number, random: () => number): string | undefined {
  const total = items.reduce((a, p) => a + w(p), 0)
  let r = random() * total
  for (const p of items) {
    r -= w(p)
    if (r < 0) return p
  }
  return items[items.length - 1]
}
