import { setImmediate as macrotask } from 'node:timers/promises'
import type { Clock } from '../../src/clock.js'

/**
 * Time that moves only when a test says so: timers fire, in order, as `advance` passes them. It is the clock of
 * the fetcher and the upload side alike (src/clock.ts).
 */
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

  /** When the first pending timer is due, if any. */
  get nextAt (): number | undefined {
    let at: number | undefined
    for (const t of this.timers.values()) if (at === undefined || t.at < at) at = t.at
    return at
  }

  /**
   * Await `work` that waits on this clock: each time it can go no further without time passing (its promise
   * chains have run), time jumps to the next timer. Throws if it stops with no timer pending (it would hang).
   */
  async run<T> (work: Promise<T>): Promise<T> {
    let settled = false
    const done = work.then(() => { settled = true }, () => { settled = true })
    for (;;) {
      await settle()
      if (settled) break
      const at = this.nextAt
      if (at === undefined) throw new Error('the work waits for something other than this clock')
      this.advance(at - this.time)
    }
    await done
    return await work
  }
}

/** Let every promise chain that can run, run (they all settle before the next macrotask). */
export async function settle (): Promise<void> {
  await macrotask()
}
