import { sleep, systemClock, type Clock } from '../../clock.js'

export interface TokenBucketOptions {
  /** The clock it refills and waits on. @default the system's */
  clock?: Clock
}

/**
 * A token bucket for upload limits: `rate` bytes a second on average, bursts up to `burst` bytes. `take`
 * waits until the bytes may go; requests larger than the burst are allowed through once the bucket is full,
 * so one large message can never wait forever.
 */
export class TokenBucket {
  private tokens: number
  private last: number
  private queue: Promise<void> = Promise.resolve()
  private readonly clock: Clock

  constructor (readonly rate: number, readonly burst: number = Math.max(rate / 4, 256 * 1024), options: TokenBucketOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.last = this.clock.now()
    this.tokens = this.burst
  }

  private refill (): void {
    const now = this.clock.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / 1000 * this.rate)
    this.last = now
  }

  /** Wait until `bytes` may be sent; callers are served in order. */
  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => {
      this.refill()
      const need = Math.min(bytes, this.burst)
      while (this.tokens < need) {
        await sleep(this.clock, Math.ceil((need - this.tokens) / this.rate * 1000), signal)
        this.refill()
      }
      this.tokens -= bytes
    })
    this.queue = turn.catch(() => {})
    await turn
  }
}

/** "10MB/s", "512KiB/s", "1.5MB" -> bytes per second. */
export function parseRate (text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*(?:\/\s*s)?\s*$/i.exec(text)
  if (m === null) throw new RangeError(`expected a rate like 10MB/s, got ${JSON.stringify(text)}`)
  const unit = (m[2] ?? 'b').toLowerCase().replace(/b$/, '')
  const mult: Record<string, number> = { '': 1, k: 1e3, ki: 1024, m: 1e6, mi: 1024 ** 2, g: 1e9, gi: 1024 ** 3 }
  const f = mult[unit]
  if (f === undefined) throw new RangeError(`unknown unit in ${JSON.stringify(text)}`)
  return Number(m[1]) * f
}
