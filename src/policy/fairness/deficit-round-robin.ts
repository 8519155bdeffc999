/** Anything with a backlog: a FIFO of waiters, or another DeficitRoundRobin (hierarchical scheduling). */
export interface Backlog {
  readonly size: number
}

interface FlowState<Q> {
  queue: Q
  weight: number
  /** Bytes the flow may still send this round; negative after a message larger than its credit. */
  deficit: number
}

/**
 * Deficit round robin over keyed flows (Shreedhar and Varghese, 1995), in its surplus form: a flow's turn lasts
 * while its deficit is positive and may overdraw it by one message, which is paid back from the next round's
 * quantum. So the scheduler never needs a message's size before choosing, and over time each backlogged flow sends
 * `quantum x weight` bytes a round, whatever its message sizes or how many requests it queues. A flow whose backlog
 * empties loses its credit (no saving up while idle).
 */
export class DeficitRoundRobin<Q extends Backlog> implements Backlog {
  private readonly flows = new Map<string, FlowState<Q>>()
  private ring: string[] = []
  private at = 0
  private current: string | undefined

  constructor (readonly quantum: number) {}

  /** Waiting items over all flows. */
  get size (): number {
    let n = 0
    for (const f of this.flows.values()) n += f.queue.size
    return n
  }

  /** Flows, idle ones included. */
  get count (): number {
    return this.flows.size
  }

  get (key: string): Q | undefined {
    return this.flows.get(key)?.queue
  }

  /** The flow `key`, created with `make()` at the end of the round if new. */
  flow (key: string, make: () => Q): Q {
    let f = this.flows.get(key)
    if (f === undefined) {
      f = { queue: make(), weight: 1, deficit: 0 }
      this.flows.set(key, f)
      this.ring.push(key)
    }
    return f.queue
  }

  keys (): IterableIterator<string> {
    return this.flows.keys()
  }

  weight (key: string): number {
    return this.flows.get(key)?.weight ?? 1
  }

  setWeight (key: string, weight: number): void {
    const f = this.flows.get(key)
    if (f !== undefined) f.weight = weight > 0 ? weight : 1
  }

  delete (key: string): void {
    if (!this.flows.delete(key)) return
    const i = this.ring.indexOf(key)
    this.ring.splice(i, 1)
    if (i < this.at) this.at--
    if (this.at >= this.ring.length) this.at = 0
    if (this.current === key) this.current = undefined
  }

  /**
   * The flow to serve next, among backlogged flows `allowed` accepts (all when omitted); undefined when none.
   * Charge what it then sends with `charge`.
   */
  next (allowed?: (key: string) => boolean): string | undefined {
    const ok = (k: string, f: FlowState<Q>): boolean => f.queue.size > 0 && (allowed === undefined || allowed(k))
    if (this.current !== undefined) {
      const f = this.flows.get(this.current)
      if (f !== undefined && f.deficit > 0 && ok(this.current, f)) return this.current
      this.current = undefined
    }
    let candidates = 0
    for (const [k, f] of this.flows) {
      if (ok(k, f)) candidates++
      else if (f.queue.size === 0) f.deficit = Math.min(f.deficit, 0) // idle flows keep no credit
    }
    if (candidates === 0) return undefined
    // each pass over the ring adds a quantum to every candidate, so a candidate's deficit turns positive
    for (;;) {
      const k = this.ring[this.at]!
      this.at = (this.at + 1) % this.ring.length
      const f = this.flows.get(k)!
      if (!ok(k, f)) continue
      f.deficit += this.quantum * f.weight
      if (f.deficit > 0) {
        this.current = k
        return k
      }
    }
  }

  /** `bytes` sent by flow `key` (negative to give back an overestimate). */
  charge (key: string, bytes: number): void {
    const f = this.flows.get(key)
    if (f !== undefined) f.deficit -= bytes
  }
}

/** A FIFO backlog: the leaves of a hierarchy. */
export class Fifo<T> implements Backlog {
  readonly items: T[] = []
  get size (): number { return this.items.length }
  push (item: T): void { this.items.push(item) }
  /** Insert after every item whose `key` is not greater (a stable priority queue; short queues). */
  insert (item: T, key: (item: T) => number): void {
    const k = key(item)
    let i = this.items.length
    while (i > 0 && key(this.items[i - 1]!) > k) i--
    this.items.splice(i, 0, item)
  }

  shift (): T | undefined { return this.items.shift() }
  remove (item: T): boolean {
    const i = this.items.indexOf(item)
    if (i < 0) return false
    this.items.splice(i, 1)
    return true
  }
}
