import type { CID } from 'multiformats/cid'
import { cidKey as keyOf } from '../../dag/cid.js'
import { AbortError } from '../../errors.js'
import { DagWalk, rotationFor } from './dag-walk.js'
import type { BlockSource, FetchOptions, FetchResult } from './fetch-interface.js'
import { Intake } from './intake.js'
import { Requests } from './requests.js'
import { FetchSession, type FetchStore } from './session.js'
import type { SourceStats } from './source-stats.js'
import { Stalls } from './stalls.js'
import { WantList } from './want-list.js'

export type { BaseHint, BlockAnswer, BlockSource, FetchOptions, FetchProgressEvent, FetchResult, PeerSources, RequestOptions } from './fetch-interface.js'

/** The parts of one fetch, over the state they share (the session). */
interface Parts {
  session: FetchSession
  wants: WantList
  walk: DagWalk
  requests: Requests
  stalls: Stalls
}

/**
 * Fetch the DAG under `root` into the store from `sources`, verifying every block before it is stored.
 * Blocks already held are not asked for, so an interrupted fetch resumes where it stopped. Sources that can
 * say which blocks they hold are asked first, and the rarest blocks are requested first. Each request goes
 * to the source expected to answer it first (requests in flight times its measured time per request), among
 * those that have not said they lack the blocks, so slow sources get less work, whatever their kind; the
 * source that sent a block's parent goes first, and sources that lacked an ancestor last (see Holders).
 *
 * A request that delivers nothing (its first blocks, or more of a long answer) for STALL_FACTOR times as long as
 * its source usually takes to answer a request (and at least STALL_MIN_MS) has stalled: its blocks are asked of
 * other sources with room that usually answer in under 1/RACE_FACTOR of the time it has waited, the first answer
 * wins and the other request is cancelled, and the stalled source gets no new work until it answers (one block
 * at a time once it has nothing in flight, so a source that recovers gets work again). In the endgame idle
 * sources race the oldest late requests the same way. A source that sends a bad block is dropped (and told,
 * through `misbehaved`) and its blocks are asked of the others. When no source is left that can serve a block,
 * the fetch fails with ERR_FETCH_FAILED naming every source tried; what was stored stays for a resume.
 *
 * The work is done by parts over one FetchSession: the want list (want-list.ts), the DAG walk (dag-walk.ts),
 * per-source statistics and pipelines (source-stats.ts), requests and the endgame (requests.ts), stall detection
 * (stalls.ts), and intake and verification (intake.ts); this loop hands out work and waits.
 */
export async function fetchDag (store: FetchStore, root: CID, sources: BlockSource[], options: FetchOptions = {}): Promise<FetchResult> {
  // an update from a held version: sources answer with deltas against its blocks where they can (src/sync/delta)
  const wrap = (s: BlockSource): BlockSource => options.base?.wrap(s) ?? s
  const session = new FetchSession(store, root, sources.map(wrap), options)
  const wants = new WantList(session)
  const walk = new DagWalk(session, wants, rotationFor(sources))
  // requests and intake need each other: the intake asks a request's source, and gives back through the requests what did not come
  const requests: Requests = new Requests(session, wants, (s, entry) => intake.ask(s, entry))
  const intake = new Intake(session, walk, wants, requests)
  const parts: Parts = { session, wants, walk, requests, stalls: new Stalls(session, requests) }
  const unwatch = options.watch?.(source => session.join(wrap(source)), id => {
    session.live.delete(id) // its requests in flight fail or are answered and then ignored; their blocks are asked again
    session.wake?.()
  })
  try {
    walk.discover(root)
    await walk.settle()
    for (;;) {
      if (options.signal?.aborted === true) throw new AbortError()
      let next = dispatch(parts)
      if (session.failure !== undefined) throw session.failure
      // done once nothing is wanted and every request still out was cancelled (a source may never answer a cancel)
      if (wants.size === 0 && walk.settled && session.requestsOut() === 0 && session.handling === 0) break
      if (session.working() === 0) {
        next = dispatch(parts)
        if (session.failure !== undefined) throw session.failure
        if (session.working() === 0) {
          if (!session.patient()) throw session.failed('no source can serve the remaining blocks')
          next = Math.min(next, wants.waitForHolders(session.clock.now()))
        }
      }
      await wait(session, next)
    }
    if (options.pin ?? true) await store.pin(root, options.pinOwner)
    else await store.markComplete(root)
    session.result.seconds = (session.clock.now() - session.started) / 1000
    return session.result
  } finally {
    // nothing more is asked, stored or counted: requests still out are cancelled and their answers ignored
    session.closed = true
    for (const o of session.outstanding.values()) o.controller.abort()
    wants.close()
    options.trading?.close()
    unwatch?.()
    await intake.close()
  }
}

/** Wait for an answer, for a source to join, or for `next` (a request turning stalled, or, in the endgame, late). */
async function wait (session: FetchSession, next: number): Promise<void> {
  const { clock, options } = session
  let timer: unknown
  const onAbort = (): void => session.wake?.()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  await new Promise<void>(resolve => {
    session.wake = resolve
    if (Number.isFinite(next)) timer = clock.setTimeout(resolve, Math.max(1, next - clock.now()))
  })
  clock.clearTimeout(timer)
  options.signal?.removeEventListener('abort', onAbort)
  session.wake = undefined
}

/** Hand out work; returns when to look again if nothing else happens (clock ms). */
function dispatch ({ session, wants, walk, requests, stalls }: Parts): number {
  if (session.failure !== undefined) return Number.POSITIVE_INFINITY
  // a patient fetch: sources that lacked blocks may hold them now
  wants.reaskIfDue(session.clock.now())
  wants.order()
  const now = session.clock.now()
  const fastest = session.fastest()
  // stalled blocks first: they are the oldest, and may hold up the walk
  stalls.find(now, fastest)
  let next = stalls.race(now)
  const skip = new Set<string>() // sources that hold none of what is left this round
  const idleStart = session.outstanding.size === 0
  while (wants.size > 0 && session.failure === undefined) {
    const top = wants.top()!
    const topKey = keyOf(top)
    const nope = session.holders.lackers(topKey)
    let best: SourceStats | undefined
    for (const s of session.live.values()) {
      // a stalled source gets nothing while a request of it is out; once idle, one block to see if it is back
      if (s.inFlight >= session.room(s) || (s.stalled && s.inFlight > 0) || skip.has(s.source.id)) continue
      if (nope?.has(s.source.id) === true && skip.size === 0) continue
      // a likely holder first (no round trip spent on a peer that lacks the whole DAG); then the soonest
      // to answer; among equals, the source that gave least so far: a crowd spreads its load over the seeders
      if (best === undefined || better(session, s, best, topKey)) best = s
    }
    if (best === undefined) {
      const candidates = [...session.live.values()].filter(s => nope?.has(s.source.id) !== true)
      if (candidates.length === 0 && session.working() === 0) {
        if (wants.askAgain(topKey)) continue
        if (session.patient()) next = Math.min(next, wants.waitForHolders(now))
        else session.failure = session.failed(session.live.size === 0 ? `no source could serve ${top}` : `no source has block ${top}`)
      }
      break
    }
    // with nothing in flight, blocks whose holders are being asked wait for the answers (rarest first needs them)
    const taken = wants.takeFor(best, best.stalled ? 1 : session.batchSize, idleStart, now, walk.leafSize)
    next = Math.min(next, taken.next)
    if (taken.batch.length === 0) {
      skip.add(best.source.id)
      continue
    }
    requests.send(best, taken.batch)
  }
  if (wants.size === 0 && session.failure === undefined) next = Math.min(next, requests.endgame(now, fastest))
  // wake when a request in flight (sent just now too) would turn stalled
  return Math.min(next, stalls.next(fastest))
}

/** Whether `a` is a better source than `b` for block `key`. */
function better (session: FetchSession, a: SourceStats, b: SourceStats, key: string): boolean {
  const ta = session.holders.tier(key, a.source.id)
  const tb = session.holders.tier(key, b.source.id)
  if (ta !== tb) return ta < tb
  if (a.eta() !== b.eta()) return a.eta() < b.eta()
  return (session.result.sources[a.source.id] ?? 0) < (session.result.sources[b.source.id] ?? 0)
}
