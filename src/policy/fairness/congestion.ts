import {
  AIMD_DECREASE,
  AIMD_DECREASE_INTERVAL_MS,
  AIMD_INCREASE_FRACTION,
  AIMD_INCREASE_INTERVAL_MS,
  DEFAULT_MIN_RATE,
  DEFAULT_TARGET_DELAY_MS,
  DELAY_FLOOR_MS,
  THROUGHPUT_WINDOW_MS
} from './constants.js'

export interface CongestionOptions {
  /** Queueing delay above the smallest seen that counts as congestion (ms). @default 250 (DEFAULT_TARGET_DELAY_MS) */
  targetDelayMs?: number
  /** Lowest rate the controller sets (bytes/s). @default 256 KiB/s (DEFAULT_MIN_RATE) */
  minRate?: number
  /** Highest rate (the configured upload limit); none means the controller lifts its limit once it recovers. */
  ceiling?: number
}

/** One message sent: how long it waited in the send queue, and its bytes. */
export interface SendSample {
  delayMs: number
  bytes: number
  /** When it finished (ms, any monotonic clock). */
  at: number
}

/**
 * Adaptive upload rate (AIMD, as TCP and LEDBAT do): when the queueing delay of our answers rises past the target
 * above its floor while throughput falls (the link or the receivers cannot take more), the rate drops to 70 % of
 * what was measured; while neither happens it climbs back by 2 % of the ceiling every 100 ms, and with no ceiling
 * the limit is lifted once it passes twice the best throughput seen. `rate` is undefined while nothing limits.
 */
export class AimdRate {
  rate: number | undefined
  /** Times the rate was lowered. */
  decreases = 0
  private readonly target: number
  private readonly minRate: number
  private readonly ceiling: number | undefined
  private floor = Number.POSITIVE_INFINITY
  private floorAt = 0
  private delay = 0
  private lastDelay = 0
  private windowStart = Number.NaN
  private windowBytes = 0
  private throughput: number | undefined
  private previousThroughput: number | undefined
  private peak = 0
  private lastDecrease = Number.NEGATIVE_INFINITY
  private lastIncrease = Number.NEGATIVE_INFINITY

  constructor (options: CongestionOptions = {}) {
    this.target = options.targetDelayMs ?? DEFAULT_TARGET_DELAY_MS
    this.minRate = options.minRate ?? DEFAULT_MIN_RATE
    this.ceiling = options.ceiling
    this.rate = options.ceiling
  }

  /** Whether the last samples showed congestion (for reports). */
  get congested (): boolean {
    return this.delay - this.floor > this.target
  }

  sample (s: SendSample): void {
    if (s.delayMs < this.floor || s.at - this.floorAt > DELAY_FLOOR_MS) {
      this.floor = s.delayMs
      this.floorAt = s.at
    }
    this.lastDelay = this.delay
    this.delay = this.delay === 0 ? s.delayMs : this.delay * 0.8 + s.delayMs * 0.2
    if (Number.isNaN(this.windowStart)) this.windowStart = s.at
    this.windowBytes += s.bytes
    if (s.at - this.windowStart >= THROUGHPUT_WINDOW_MS) {
      this.previousThroughput = this.throughput
      this.throughput = this.windowBytes / ((s.at - this.windowStart) / 1000)
      this.peak = Math.max(this.peak, this.throughput)
      this.windowStart = s.at
      this.windowBytes = 0
    }
    const rising = this.delay >= this.lastDelay
    const falling = this.throughput !== undefined && this.previousThroughput !== undefined && this.throughput < this.previousThroughput * 0.9
    // both signs, as the doc says: a receiver that is merely busy (a delay alone) is not a congested link
    if (this.congested && rising && falling) {
      if (s.at - this.lastDecrease < AIMD_DECREASE_INTERVAL_MS) return
      this.lastDecrease = s.at
      this.decreases++
      const base = Math.min(this.rate ?? Number.POSITIVE_INFINITY, this.throughput!)
      this.rate = Math.max(this.minRate, base * AIMD_DECREASE)
      return
    }
    if (this.rate === undefined || s.at - this.lastIncrease < AIMD_INCREASE_INTERVAL_MS) return
    this.lastIncrease = s.at
    const top = this.ceiling ?? 2 * Math.max(this.peak, this.minRate)
    this.rate += Math.max(1024, top * AIMD_INCREASE_FRACTION)
    if (this.rate >= top) this.rate = this.ceiling
  }
}
