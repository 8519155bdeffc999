/** Stall detection: a request that delivers nothing for too long, and the sources that race its blocks. */
import type { Requests } from './requests.js'
import type { FetchSession, Outstanding } from './session.js'
import type { SourceStats } from './source-stats.js'

/** A request is never called stalled before this long: below it, a busy link or a large batch explains the wait. */
const STALL_MIN_MS = 750
/** A request is stalled once it runs this many times longer than its source (or the fastest source) usually takes. */
const STALL_FACTOR = 4
/** A stalled request is asked of another source once it has waited this many times that source's usual time. */
const RACE_FACTOR = 2

export class Stalls {
  constructor (private readonly session: FetchSession, private readonly requests: Requests) {}

  /**
   * When `o` counts as stalled (clock ms): STALL_FACTOR times its source's usual time (or the fastest source's)
   * after it last delivered, STALL_MIN_MS at least; never while no source has answered anything.
   */
  due (o: Outstanding, fastest: number): number {
    const usual = o.source.secondsPerRequest > 0 ? o.source.secondsPerRequest : fastest
    return o.progressAt + Math.max(STALL_MIN_MS, STALL_FACTOR * usual * 1000)
  }

  /** When the next request in flight (sent just now too) would turn stalled. */
  next (fastest: number): number {
    let next = Number.POSITIVE_INFINITY
    for (const o of this.session.outstanding.values()) if (!o.stalled && !o.controller.signal.aborted) next = Math.min(next, this.due(o, fastest))
    return next
  }

  /** Mark the requests that stalled, and their sources (a source found stalled is reported once). */
  find (now: number, fastest: number): void {
    const { session } = this
    for (const o of session.outstanding.values()) {
      if (o.stalled || o.controller.signal.aborted || now < this.due(o, fastest)) continue
      const s = o.source
      o.stalled = true
      // it is at least this slow: the next request it gets is given longer before it counts as stalled
      s.secondsPerRequest = Math.max(s.secondsPerRequest, (now - o.started) / 1000)
      if (s.stalled) continue
      s.stalled = true
      let blocks = 0
      for (const x of session.outstanding.values()) {
        if (x.source !== s || x.controller.signal.aborted) continue
        x.stalled = true // all its requests wait on the same silent source
        blocks += x.cids.length
      }
      if (session.isLive(s)) session.emit({ type: 'fetch:stalled', source: s.source.id, blocks })
    }
  }

  /**
   * Ask other sources with room for the blocks of stalled requests, oldest request first: only sources expected
   * to answer well within the time the stalled request has waited (racing an equally slow source, as every
   * source of a throttled swarm looks after its first burst, only wastes its bandwidth). Returns when a source
   * passed over for being too slow would become worth asking, if nothing happens before.
   */
  race (now: number): number {
    let next = Number.POSITIVE_INFINITY
    for (const o of this.session.outstanding.values()) {
      if (!o.stalled || o.raceable.length === 0 || o.controller.signal.aborted) continue
      const passed = new Set<SourceStats>()
      while (o.raceable.length > 0) {
        let best: SourceStats | undefined
        for (const t of this.session.live.values()) {
          if (t === o.source || t.stalled || t.inFlight >= this.session.room(t) || passed.has(t)) continue
          // a source that has not answered yet is tried only when idle: it may be as slow
          if (t.secondsPerRequest === 0 ? t.inFlight > 0 : now - o.started < RACE_FACTOR * t.secondsPerRequest * 1000) {
            if (t.secondsPerRequest > 0) next = Math.min(next, o.started + RACE_FACTOR * t.secondsPerRequest * 1000)
            continue
          }
          if (best === undefined || t.eta() < best.eta()) best = t
        }
        if (best === undefined) break // nobody else can take them now: they wait for room or for the stalled source
        passed.add(best)
        this.requests.race(o, best)
      }
    }
    return next
  }
}
