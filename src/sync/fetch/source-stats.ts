/** What a fetch has measured of one source: how fast it answers, what it delivers, and how much to ask of it at once. */
import type { BlockSource } from './fetch-interface.js'
import type { Clock } from '../../clock.js'

/** Requests in flight to a source that has not delivered yet (then sized by its throughput, see pipeline). */
const DEFAULT_PIPELINE = 4
const MIN_PIPELINE = 2
const MAX_PIPELINE = 16
/** Work in flight to a source should keep it busy this long: a round trip and the server's turn are hidden. */
const PIPELINE_SECONDS = 0.5
/** A source's throughput counts once it has been busy this long. */
const MIN_RATE_MS = 200
/** A source's throughput is measured over its last 2 to 4 s of being busy. */
const RATE_WINDOW_MS = 4000

export class SourceStats {
  /** Its requests in flight. */
  inFlight = 0
  /** Requests it answered. */
  answered = 0
  /** The shortest time it took to answer a request, in seconds: its round trip, nearly. */
  quickest = Number.POSITIVE_INFINITY
  /** Bytes it delivered. */
  delivered = 0
  /** It said it lacks a block of this DAG (or left one unanswered): not known to hold all of it. */
  lacked = false
  /** Moving average of how long a request to this source takes (0 until one completes). */
  secondsPerRequest = 0
  /** Requests that failed in a row. */
  failures = 0
  /** A request of it stalled: no new work until it answers something, except one block at a time when idle. */
  stalled = false
  /** When its requests in flight last went from none to some (clock ms). */
  private busySince = 0
  /**
   * Its recent throughput: bytes it delivered over the ms it had requests in flight before busySince, both halved
   * whenever the time passes RATE_WINDOW_MS (so a slow start, or a slow spell, is soon forgotten).
   */
  private rateBytes = 0
  private busyMs = 0

  constructor (readonly source: BlockSource, private readonly clock: Clock) {}

  /** A request to it went out. */
  sent (): void {
    if (this.inFlight++ === 0) this.busySince = this.clock.now()
  }

  /** A request to it ended (answered, failed or cancelled). */
  settled (): void {
    if (--this.inFlight === 0) this.busyMs += this.clock.now() - this.busySince
  }

  /** It answered something: it is neither failing nor stalled any more. */
  heard (): void {
    this.failures = 0
    this.stalled = false
  }

  /** It answered a request in `took` seconds; `stalled`: the request had been found stalled first. */
  answeredIn (took: number, stalled: boolean): void {
    const average = this.secondsPerRequest === 0 ? took : this.secondsPerRequest * 0.7 + took * 0.3
    // an answer that stalled shows what the source takes now (a throttle after its first burst): not averaged away
    this.secondsPerRequest = stalled ? Math.max(average, took) : average
    this.answered++
    this.quickest = Math.min(this.quickest, took)
  }

  /** It delivered `bytes` of blocks that verified. */
  credit (bytes: number): void {
    this.delivered += bytes
    this.rateBytes += bytes
  }

  /** Expected seconds until it would finish one more request: slow sources get less work. */
  eta (): number {
    return (this.inFlight + 1) * this.secondsPerRequest
  }

  /**
   * Requests in flight to it at most: as many as keep it busy for PIPELINE_SECONDS (or its quickest answer, if
   * longer) at the rate it has delivered while it had work (at least a round trip and the server's turn are
   * hidden, and a slow source is not promised what it would take long to send), from MIN_PIPELINE to
   * MAX_PIPELINE; DEFAULT_PIPELINE until it has delivered something. Requests count as `requestBytes` at most.
   */
  pipeline (requestBytes: number): number {
    const now = this.clock.now()
    if (this.inFlight > 0) {
      this.busyMs += now - this.busySince
      this.busySince = now
    }
    // called at every dispatch, so the window is halved as soon as it passes RATE_WINDOW_MS
    if (this.busyMs > RATE_WINDOW_MS) {
      this.busyMs /= 2
      this.rateBytes /= 2
    }
    if (this.delivered === 0 || this.answered === 0 || this.busyMs < MIN_RATE_MS) return DEFAULT_PIPELINE
    const perRequest = Math.min(requestBytes, this.delivered / this.answered)
    // Little's law: in flight = rate x time in flight; a source slower to answer than PIPELINE_SECONDS even at
    // its quickest (a long round trip) needs that much more in flight
    const horizon = Math.max(PIPELINE_SECONDS, this.quickest)
    const depth = Math.ceil(this.rateBytes / this.busyMs * 1000 * horizon / perRequest) + 1
    return Math.min(MAX_PIPELINE, Math.max(MIN_PIPELINE, depth))
  }
}
