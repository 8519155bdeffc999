import { AbortError } from '../../errors.js'
import { systemClock, type Clock } from '../../clock.js'
import { AimdRate, type CongestionOptions } from './congestion.js'
import { DeficitRoundRobin, Fifo } from './deficit-round-robin.js'
import {
  DEFAULT_FAIR_MESSAGE_BYTES,
  DEFAULT_MAX_SHARE,
  DEFAULT_QUANTUM_BYTES,
  DEFAULT_SHARE_WINDOW_MS,
  DEFAULT_UPLOAD_SLOTS,
  MESSAGE_TIME_MS,
  MIN_MESSAGE_BYTES,
  PACING_BURST_BYTES,
  PACING_BURST_MS,
  SHARE_WINDOW_BUCKETS
} from './constants.js'

export interface UploadSchedulerOptions {
  /** Deficit round robin over groups, then peers (false: first come, first served, as before). @default true */
  fair?: boolean
  /** Upload limit over all peers, bytes a second. @default unlimited */
  rate?: number
  /** Most of the upload one group gets while other groups wait. @default 0.25 (DEFAULT_MAX_SHARE) */
  maxShare?: number
  /** Window over which shares are measured (ms). @default 1000 (DEFAULT_SHARE_WINDOW_MS) */
  shareWindowMs?: number
  /** Bytes per round of a weight-1 flow. @default 256 KiB (DEFAULT_QUANTUM_BYTES) */
  quantumBytes?: number
  /** Message size while other groups wait. @default 256 KiB (DEFAULT_FAIR_MESSAGE_BYTES) */
  messageBytes?: number
  /** Largest message, when no other group waits. @default 1 MiB */
  maxMessageBytes?: number
  /** Messages being sent at once. @default 4 (DEFAULT_UPLOAD_SLOTS) */
  slots?: number
  /** Priority classes (0 = highest, served strictly first). @default 1 */
  classes?: number
  /** Adaptive rate on congestion (src/policy/fairness/congestion.ts); false turns it off. @default on */
  congestion?: CongestionOptions | false
  /** The clock grants are paced and shares measured on. @default the system's */
  clock?: Clock
}

export interface UploadRequest {
  peer: string
  /** Upload group (src/policy/fairness/upload-groups.ts). */
  group: string
  /** Priority class index. @default the lowest */
  priority?: number
  /** Weight of the peer (unchoked, seeding, throttled, policy). @default 1 */
  weight?: number
  /**
   * Order among the peer's own waiting messages (lower first): a request's number, so a peer's requests finish
   * one after the other instead of all crawling together. @default arrival order
   */
  order?: number
  signal?: AbortSignal
}

/** Permission to send one message of at most `maxBytes` block bytes; `release` once it is sent (or not). */
export interface UploadGrant {
  readonly maxBytes: number
  /**
   * `sentBytes` went out, or were queued on the stream (0 if nothing did); `delayMs`: how long the send waited in
   * the stream's queue, if known by then (else report it later with `observe`).
   */
  release: (sentBytes: number, delayMs?: number) => void
}

/** A grant as it is given, for traces and tests (`UploadScheduler.onGrant`). */
export interface GrantEvent {
  peer: string
  group: string
  /** The priority class it was granted in. */
  priority: number
  maxBytes: number
  /** Messages left waiting in each priority class once it was granted. */
  waiting: number[]
  /** The groups that had a message waiting for a turn when it was granted, its own included. */
  waitingGroups: string[]
}

interface Waiter {
  order: number
  peer: string
  group: string
  cls: number
  resolve: (g: UploadGrant) => void
  reject: (err: Error) => void
  done: () => void
}

type GroupQueue = DeficitRoundRobin<Fifo<Waiter>>

/** Idle groups a priority class keeps before it forgets them. */
const MAX_IDLE_FLOWS = 1024

/** Bytes per group over a sliding window of SHARE_WINDOW_BUCKETS buckets. */
class ShareWindow {
  private readonly buckets: Array<Map<string, number>> = []
  private readonly span: number
  private head = 0
  private headStart = 0

  constructor (windowMs: number) {
    this.span = windowMs / SHARE_WINDOW_BUCKETS
    for (let i = 0; i < SHARE_WINDOW_BUCKETS; i++) this.buckets.push(new Map())
  }

  private roll (now: number): void {
    if (this.headStart === 0) this.headStart = now
    let steps = Math.floor((now - this.headStart) / this.span)
    if (steps <= 0) return
    this.headStart += steps * this.span
    if (steps > SHARE_WINDOW_BUCKETS) steps = SHARE_WINDOW_BUCKETS
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % SHARE_WINDOW_BUCKETS
      this.buckets[this.head]!.clear()
    }
  }

  add (group: string, bytes: number, now: number): void {
    this.roll(now)
    const b = this.buckets[this.head]!
    b.set(group, (b.get(group) ?? 0) + bytes)
  }

  /** Bytes of each group in the window, and the total. */
  totals (now: number): { total: number, groups: Map<string, number> } {
    this.roll(now)
    const groups = new Map<string, number>()
    let total = 0
    for (const b of this.buckets) {
      for (const [g, n] of b) {
        groups.set(g, (groups.get(g) ?? 0) + n)
        total += n
      }
    }
    return { total, groups }
  }
}

/**
 * The upload side's scheduler: every answer message a node sends first waits here for a grant. Waiting messages
 * are served by priority class (strictly, highest first), then by deficit round robin over upload groups (peers
 * behind one address or subnet), then over the peers of a group, each weighted; so a peer's share does not grow
 * with the requests, streams or identities it opens. A group that had more than `maxShare` of the bytes sent in
 * the last window waits while a group under it waits too (with fewer than 1/maxShare groups asking, the others
 * take the rest: no upload is left idle); a group weighing w < 1 is under its cap below w x `maxShare` only, so a
 * free-rider the unchoker weighs at 0.25 is not served ahead of the peers that trade. Grants are paced to the
 * upload limit, lowered further by the AIMD controller while answers queue up and throughput falls, and at most
 * `slots` messages are in flight.
 */
export class UploadScheduler {
  readonly fair: boolean
  readonly maxShare: number
  private readonly limit: number | undefined
  private readonly quantum: number
  private readonly messageBytes: number
  private readonly maxMessageBytes: number
  private readonly slots: number
  private readonly queues: Array<DeficitRoundRobin<GroupQueue>> = []
  private readonly fifo = new Fifo<Waiter>()
  private readonly window: ShareWindow
  readonly congestion: AimdRate | undefined
  private waiting = 0
  private readonly waitingIn: number[] = []
  private arrivals = 0
  private inFlight = 0
  private nextFree = Number.NEGATIVE_INFINITY
  private timer: unknown
  private readonly clock: Clock
  /** Bytes granted and sent, over the scheduler's life. */
  sentBytes = 0
  /** Called as each grant is given, in the order they are: which class went first, and what it went ahead of. */
  onGrant: ((event: GrantEvent) => void) | undefined

  constructor (init: UploadSchedulerOptions = {}) {
    this.clock = init.clock ?? systemClock
    this.fair = init.fair ?? true
    this.maxShare = init.maxShare ?? DEFAULT_MAX_SHARE
    this.limit = init.rate
    this.quantum = init.quantumBytes ?? DEFAULT_QUANTUM_BYTES
    this.maxMessageBytes = init.maxMessageBytes ?? 1024 * 1024
    this.messageBytes = Math.min(init.messageBytes ?? DEFAULT_FAIR_MESSAGE_BYTES, this.maxMessageBytes)
    this.slots = init.slots ?? DEFAULT_UPLOAD_SLOTS
    this.window = new ShareWindow(init.shareWindowMs ?? DEFAULT_SHARE_WINDOW_MS)
    this.congestion = init.congestion === false ? undefined : new AimdRate({ ...init.congestion, ceiling: init.rate })
    for (let i = 0; i < Math.max(1, init.classes ?? 1); i++) {
      this.queues.push(new DeficitRoundRobin<GroupQueue>(this.quantum))
      this.waitingIn.push(0)
    }
  }

  /** The rate grants are paced to now (bytes/s), if any. */
  get rate (): number | undefined {
    const a = this.congestion?.rate
    if (a === undefined) return this.limit
    return this.limit === undefined ? a : Math.min(a, this.limit)
  }

  /** Messages waiting for a grant. */
  get backlog (): number {
    return this.waiting
  }

  /** Wait for a turn to send one message to `req.peer`. Rejects with AbortError when `req.signal` aborts. */
  async acquire (req: UploadRequest): Promise<UploadGrant> {
    req.signal?.throwIfAborted()
    return await new Promise<UploadGrant>((resolve, reject) => {
      const cls = Math.min(Math.max(0, req.priority ?? this.queues.length - 1), this.queues.length - 1)
      const onAbort = (): void => {
        if (this.remove(w)) reject(new AbortError('upload cancelled'))
      }
      const w: Waiter = {
        order: req.order ?? this.arrivals++,
        peer: req.peer,
        group: req.group,
        cls,
        resolve,
        reject,
        done: () => req.signal?.removeEventListener('abort', onAbort)
      }
      req.signal?.addEventListener('abort', onAbort, { once: true })
      this.enqueue(w, req.weight ?? 1)
      this.pump()
    })
  }

  private enqueue (w: Waiter, weight: number): void {
    this.waiting++
    this.waitingIn[w.cls]!++
    if (!this.fair) {
      this.fifo.push(w)
      return
    }
    const groups = this.queues[w.cls]!
    this.prune(groups)
    const group = groups.flow(w.group, () => new DeficitRoundRobin<Fifo<Waiter>>(this.quantum))
    group.flow(w.peer, () => new Fifo<Waiter>()).insert(w, x => x.order)
    group.setWeight(w.peer, weight)
    // a group weighs what its heaviest asking member weighs: more identities add nothing
    let max = 0
    for (const p of group.keys()) if ((group.get(p)?.size ?? 0) > 0) max = Math.max(max, group.weight(p))
    groups.setWeight(w.group, max)
  }

  private remove (w: Waiter): boolean {
    const removed = this.fair ? this.queues[w.cls]!.get(w.group)?.get(w.peer)?.remove(w) === true : this.fifo.remove(w)
    if (removed) {
      this.waiting--
      this.waitingIn[w.cls]!--
      w.done()
    }
    return removed
  }

  /**
   * Forget idle flows once a class holds many: flows are kept while idle, so a weighted flow keeps its place and
   * a flow that overdrew its credit pays it back.
   */
  private prune (groups: DeficitRoundRobin<GroupQueue>): void {
    if (groups.count < MAX_IDLE_FLOWS) return
    for (const g of [...groups.keys()]) {
      const group = groups.get(g)!
      for (const p of [...group.keys()]) if ((group.get(p)?.size ?? 0) === 0) group.delete(p)
      if (group.size === 0) groups.delete(g)
    }
  }

  /** The next waiter to grant, taken out of its queue. */
  private pick (now: number): Waiter | undefined {
    if (!this.fair) return this.fifo.shift()
    const { total, groups: shares } = this.window.totals(now)
    // a group lighter than 1 (a free-rider's, weighed down by the unchoker) has its cap scaled down with it: the cap
    // keeps heavy groups from crowding out the rest, and must not lift a taker ahead of the peers that trade
    const underCap = (g: string, groups: DeficitRoundRobin<GroupQueue>): boolean =>
      total === 0 || (shares.get(g) ?? 0) < this.maxShare * Math.min(1, groups.weight(g)) * total
    for (const groups of this.queues) {
      if (groups.size === 0) continue
      const g = groups.next(x => underCap(x, groups)) ?? groups.next()
      if (g === undefined) continue
      const group = groups.get(g)!
      const p = group.next()!
      return group.get(p)!.shift()!
    }
    return undefined
  }

  /** Whether a group other than `group` has a message waiting. */
  /** The groups with a message waiting, and `group` (for traces: computed only when someone listens). */
  private waitingGroups (group: string): string[] {
    const out = new Set([group])
    if (!this.fair) for (const w of this.fifo.items) out.add(w.group)
    else for (const groups of this.queues) for (const g of groups.keys()) if ((groups.get(g)?.size ?? 0) > 0) out.add(g)
    return [...out]
  }

  private othersWaiting (group: string): boolean {
    if (!this.fair) return this.fifo.items.some(w => w.group !== group)
    for (const groups of this.queues) for (const g of groups.keys()) if (g !== group && (groups.get(g)?.size ?? 0) > 0) return true
    return false
  }

  private pump (): void {
    while (this.inFlight < this.slots && this.waiting > 0) {
      const now = this.clock.now()
      const rate = this.rate
      if (rate !== undefined && this.nextFree > now) {
        if (this.timer === undefined) {
          this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.pump() }, Math.ceil(this.nextFree - now))
        }
        return
      }
      const w = this.pick(now)
      if (w === undefined) return
      this.waiting--
      this.waitingIn[w.cls]!--
      w.done()
      this.grant(w, now, rate)
    }
  }

  private grant (w: Waiter, now: number, rate: number | undefined): void {
    // an idle link saved up credit, as a token bucket does: up to PACING_BURST_MS, and at least PACING_BURST_BYTES
    const burstMs = rate === undefined ? 0 : Math.max(PACING_BURST_MS, PACING_BURST_BYTES / rate * 1000)
    if (rate !== undefined) this.nextFree = Math.max(this.nextFree, now - burstMs)
    const others = this.othersWaiting(w.group)
    let estimate: number
    if (rate === undefined) {
      // small messages while others wait, large ones (fewer per-message costs) when alone
      estimate = others ? this.messageBytes : this.maxMessageBytes
    } else {
      // under a rate a message holds the link at most MESSAGE_TIME_MS while others wait (bigger ones would not go
      // faster), so a critical request or a group whose next request is on its way never waits behind more; alone,
      // it may spend the credit an idle link saved up in one message, but never more: a large message paid for
      // afterwards would hold up a critical request that comes next for as long as it takes to send
      const slice = Math.max(MIN_MESSAGE_BYTES, Math.min(this.messageBytes, rate * MESSAGE_TIME_MS / 1000))
      const credit = Math.min(burstMs, Math.max(0, now - this.nextFree)) / 1000 * rate
      estimate = Math.floor(others ? slice : Math.max(slice, Math.min(this.maxMessageBytes, credit)))
    }
    const charge = (bytes: number, at: number): void => {
      if (this.fair) {
        const groups = this.queues[w.cls]!
        groups.charge(w.group, bytes)
        groups.get(w.group)?.charge(w.peer, bytes)
      }
      this.window.add(w.group, bytes, at)
      if (rate !== undefined) this.nextFree += bytes / rate * 1000
    }
    charge(estimate, now)
    this.inFlight++
    const { onGrant } = this
    if (onGrant !== undefined) {
      onGrant({ peer: w.peer, group: w.group, priority: w.cls, maxBytes: estimate, waiting: [...this.waitingIn], waitingGroups: this.waitingGroups(w.group) })
    }
    let released = false
    w.resolve({
      maxBytes: estimate,
      release: (sentBytes, delayMs) => {
        if (released) return
        released = true
        this.inFlight--
        const at = this.clock.now()
        charge(sentBytes - estimate, at) // settle the estimate with what went out
        this.sentBytes += sentBytes
        if (sentBytes > 0 && delayMs !== undefined) this.observe(sentBytes, delayMs)
        this.pump()
      }
    })
  }

  /** A message of `bytes` took `delayMs` to leave its stream's queue: the congestion controller's signal. */
  observe (bytes: number, delayMs: number): void {
    this.congestion?.sample({ delayMs, bytes, at: this.clock.now() })
  }

  /** Each group's share of the bytes sent over the last window. */
  shares (): Record<string, number> {
    const { total, groups } = this.window.totals(this.clock.now())
    const out: Record<string, number> = {}
    for (const [g, n] of groups) out[g] = total === 0 ? 0 : Math.max(0, n) / total
    return out
  }

  /** Reject everything waiting (the service stops). */
  close (): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
    const all: Waiter[] = [...this.fifo.items]
    for (const groups of this.queues) for (const g of [...groups.keys()]) for (const p of [...groups.get(g)!.keys()]) all.push(...groups.get(g)!.get(p)!.items)
    for (const w of all) if (this.remove(w)) w.reject(new AbortError('upload scheduler closed'))
  }
}
