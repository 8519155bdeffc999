import type { Clock } from '../../../src/sync/fetch/clock.js'

/** Time that moves only when a test says so: timers fire, in order, as `advance` passes them. */
export class FakeClock implements Clock {
  private time = 10_000
  private nextId = 1
  private readonly timers = new Map<number, { at: number, callback: () => void }>()

  now (): number {
    return this.time
  }

  setTimeout (callback: () => void, ms: number): number {
    const id = this.nextId++
    this.timers.set(id, { at: this.time + Math.max(0, ms), callback })
    return id
  }

  clearTimeout (timer: unknown): void {
    this.timers.delete(timer as number)
  }

  /** Move time on by `ms`, firing every timer due by then at its own time. */
  advance (ms: number): void {
    const end = this.time + ms
    for (;;) {
      let first: [number, { at: number, callback: () => void }] | undefined
      for (const t of this.timers) if (t[1].at <= end && (first === undefined || t[1].at < first[1].at)) first = t
      if (first === undefined) break
      this.timers.delete(first[0])
      this.time = first[1].at
      first[1].callback()
    }
    this.time = end
  }

  /** Timers set and not yet fired or cleared. */
  get pending (): number {
    return this.timers.size
  }
}
