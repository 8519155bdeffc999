/** Block requests in flight: sending them, racing them, and the endgame that splits the late ones. */
import type { CID } from 'multiformats/cid'
import { cidKey as keyOf } from '../../dag/cid.js'
import type { Block } from '../../store/interface.js'
import type { FetchSession, Outstanding } from './session.js'
import type { SourceStats } from './source-stats.js'
import type { WantList } from './want-list.js'

/** How often the endgame looks for late requests when nothing else happens. */
const ENDGAME_TICK_MS = 50

/** Asks a request's source for its blocks and takes in what comes (intake.ts); settles when it is done with it. */
export type Ask = (s: SourceStats, entry: Outstanding) => Promise<void>

export class Requests {
  private nextId = 0

  constructor (private readonly session: FetchSession, private readonly wants: WantList, private readonly ask: Ask) {}

  /** Ask `s` for `batch`; `origin`: the request this one races. */
  send (s: SourceStats, batch: CID[], origin?: Outstanding): Outstanding {
    const { session } = this
    const now = session.clock.now()
    const entry: Outstanding = {
      cids: batch,
      open: new Map(batch.map(c => [keyOf(c), c])),
      arrived: new Set(),
      taken: new Set(),
      source: s,
      controller: new AbortController(),
      raced: origin !== undefined,
      raceable: batch,
      stalled: false,
      origin,
      settled: false,
      started: now,
      progressAt: now
    }
    const id = this.nextId++
    session.outstanding.set(id, entry)
    s.sent()
    void this.ask(s, entry).catch((err: Error) => { session.failure ??= err }).finally(() => {
      entry.settled = true
      s.settled()
      session.outstanding.delete(id)
      session.wake?.()
    })
    return entry
  }

  /** Ask `to` for the blocks of `o` not yet raced that it has not said it lacks. */
  race (o: Outstanding, to: SourceStats): void {
    const take: CID[] = []
    const keep: CID[] = []
    for (const c of o.raceable) {
      if (!o.open.has(keyOf(c))) continue // it arrived meanwhile
      ;(this.session.holders.lacks(keyOf(c), to.source.id) ? keep : take).push(c)
    }
    if (take.length === 0) return
    o.raceable = keep
    o.raced = true
    this.session.result.duplicates++
    // from the other end: the two sources send towards each other and meet near the middle, each block
    // delivered first by one is taken back from the other (where it can), so little arrives twice
    this.send(to, take.reverse(), o)
  }

  /**
   * The endgame for a request whose source still delivers, only late: the idle source `to` takes the far half of
   * what is left (all of it when one block is), and those blocks are taken back from the late request's source
   * at once, so the two do not send the same blocks (only what a cancel crosses on the way arrives twice). The
   * late request keeps the near half, which its source sends first, and may be split again. A source that has
   * lacked a block of this DAG races instead of stealing: blocks taken from a late source and then refused would
   * go to the back of the queue, where a race loses nothing (so a partial holder costs one round trip at most);
   * but of what such a source has told it holds since (a downloader of the same file: trading), it steals the far half.
   * A request that cannot take blocks back (a mirror's), or one that is itself a racer, is raced too.
   */
  private steal (o: Outstanding, to: SourceStats): void {
    const left = [...o.open.values()].filter(c => !o.arrived.has(keyOf(c)) && !this.session.holders.lacks(keyOf(c), to.source.id))
    // what `to` told it holds (a downloader of the same file) goes first: a claim is no guess
    const { trading } = this.session.options
    const claimed = trading === undefined ? [] : left.filter(c => trading.holds(to.source.id, keyOf(c)) === true)
    if (o.cancel === undefined || o.origin !== undefined || o.raced || (to.lacked && claimed.length === 0)) {
      this.race(o, to)
      return
    }
    if (left.length === 0) return
    const pool = claimed.length > 0 ? claimed : left
    const take = pool.slice(Math.floor(pool.length / 2))
    for (const c of take) {
      o.open.delete(keyOf(c))
      o.taken.add(keyOf(c))
    }
    o.raceable = o.raceable.filter(c => o.open.has(keyOf(c)))
    o.cancel(take)
    this.session.result.stolen++
    this.send(to, take)
  }

  /**
   * Nothing left to hand out: each idle source races the oldest request that runs late (twice as long as its
   * source, or the fastest source, usually takes), or takes over its far half (see steal); the loser of a race is
   * cancelled when the winner's blocks are stored. Returns when to look again.
   */
  endgame (now: number, fastest: number): number {
    const { session } = this
    for (const idle of session.live.values()) {
      if (idle.inFlight > 0 || idle.stalled) continue
      let oldest: Outstanding | undefined
      for (const o of session.outstanding.values()) {
        if (o.raced || o.source === idle || o.controller.signal.aborted) continue
        if (oldest !== undefined && o.started >= oldest.started) continue
        const usual = Math.max(o.source.secondsPerRequest, Number.isFinite(fastest) ? fastest : 0, 0.05)
        // a request to a stalled source (its one-block probe) is late at once: nothing else holds up the end
        if (!o.source.stalled && (now - o.started) / 1000 < 2 * usual) continue // not late yet
        // the costly check last: with many peers and requests it ran for every pair at every tick
        if (!this.helps(o, idle)) continue
        oldest = o
      }
      if (oldest === undefined) continue
      session.emit({ type: 'fetch:endgame', source: idle.source.id, blocks: oldest.raceable.length })
      if (oldest.source.stalled || oldest.stalled) this.race(oldest, idle)
      else this.steal(oldest, idle)
    }
    return now + ENDGAME_TICK_MS
  }

  /**
   * Whether `to` may take part of late request `o`: it told it holds a block still to come (a downloader of the
   * same file), or it refused none of the request's blocks.
   */
  private helps (o: Outstanding, to: SourceStats): boolean {
    const { trading } = this.session.options
    if (trading !== undefined) {
      for (const [key] of o.open) if (!o.arrived.has(key) && trading.holds(to.source.id, key) === true) return true
    }
    return !o.cids.some(c => this.session.holders.lacks(keyOf(c), to.source.id))
  }

  /** The blocks of a request not handed to another source by a steal (those are the thief's to deliver). */
  kept (entry: Outstanding): CID[] {
    return entry.taken.size === 0 ? entry.cids : entry.cids.filter(c => !entry.taken.has(keyOf(c)))
  }

  /**
   * Blocks a request did not deliver: a racer hands them back to the request it races, while that one is
   * still out, to be offered to yet another source (in the queue they would wait at its head for the
   * stalled source); other blocks go back in the queue.
   */
  async giveBack (entry: Outstanding, cids: CID[]): Promise<void> {
    const o = entry.origin
    if (o === undefined || o.settled || o.controller.signal.aborted) return await this.wants.requeue(cids)
    for (const c of cids) if (!await this.session.store.has(c)) o.raceable.push(c)
  }

  /**
   * Blocks `from` delivered are no longer wanted of the requests racing it: taken back from their sources
   * (those that can), so a seeder does not go on sending what arrived from another.
   */
  cancelRaced (from: Outstanding, blocks: Block[]): void {
    for (const o of this.session.outstanding.values()) {
      if (o === from || !o.raced || o.controller.signal.aborted || o.cancel === undefined) continue
      const back: CID[] = []
      for (const b of blocks) if (o.open.delete(keyOf(b.cid))) back.push(b.cid)
      if (back.length > 0) o.cancel(back)
    }
  }

  /** Cancel requests whose blocks have all been stored meanwhile (by a racing request). */
  async cancelSatisfied (): Promise<void> {
    for (const o of this.session.outstanding.values()) {
      // only raced requests ask for blocks another request also asks for
      if (!o.raced || o.controller.signal.aborted) continue
      let all = true
      for (const c of o.cids) if (!await this.session.store.has(c)) { all = false; break }
      if (all) o.controller.abort()
    }
  }
}
