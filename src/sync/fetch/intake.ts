/** Intake: asking a source for a request's blocks, verifying what comes, storing it in batches, crediting the source. */
import { cidKey as keyOf } from '../../dag/cid.js'
import { getHasher } from '../../dag/hashing.js'
import { checkDigest } from '../../dag/verify.js'
import { AbortError, BlockCorruptError } from '../../errors.js'
import type { Block, StoreSession } from '../../store/interface.js'
import type { DagWalk } from './dag-walk.js'
import type { BlockAnswer, BlockSource } from './fetch-interface.js'
import type { Requests } from './requests.js'
import type { FetchSession, Outstanding } from './session.js'
import type { SourceStats } from './source-stats.js'
import type { WantList } from './want-list.js'

/** Blocks of a long answer arriving message by message are stored once this many bytes have come. */
const STREAM_STORE_BYTES = 256 * 1024
/** Failed requests in a row after which a source is dropped from a fetch. */
const MAX_FAILURES = 3

export class Intake {
  /** The store's session for this fetch's writes. */
  private readonly writes: StoreSession
  /** Writes under way: the fetch returns only once they are done, so nothing is stored after it. */
  private readonly storing = new Set<Promise<unknown>>()

  constructor (private readonly session: FetchSession, private readonly walk: DagWalk, private readonly wants: WantList, private readonly requests: Requests) {
    this.writes = session.store.openSession()
  }

  /** Ask `s` for the blocks of `entry`, and take in what it sends (see Requests.send). */
  async ask (s: SourceStats, entry: Outstanding): Promise<void> {
    const { session } = this
    const { signal: stop } = session.options
    const signal = stop === undefined ? entry.controller.signal : AbortSignal.any([stop, entry.controller.signal])
    let answer: BlockAnswer | undefined
    let error: unknown
    // blocks of a long answer are stored a batch at a time: a store write and a walk per message cost more than
    // they gained (forty nodes on one core fell behind)
    let held: Block[] = []
    let heldBytes = 0
    const onBlocks = async (blocks: Block[], wireBytes: number): Promise<void> => {
      if (session.closed) return
      this.countWire(s.source, wireBytes)
      entry.progressAt = session.clock.now()
      s.heard()
      for (const b of blocks) {
        heldBytes += b.bytes.length
        entry.arrived.add(keyOf(b.cid))
      }
      if (heldBytes < STREAM_STORE_BYTES) {
        // kept beyond this call: copied, as the source may use their buffer again once it returns (RequestOptions)
        for (const b of blocks) held.push({ cid: b.cid, bytes: b.bytes.slice() })
        return
      }
      const batch = held.concat(blocks)
      held = []
      heldBytes = 0
      session.handling++
      try {
        if (!await this.take(s, entry, batch)) {
          await this.requests.giveBack(entry, this.requests.kept(entry))
          entry.controller.abort()
        }
      } finally {
        session.handling--
        session.wake?.()
      }
    }
    try {
      const onProgress = (): void => {
        if (session.closed) return
        entry.progressAt = session.clock.now()
        s.heard()
      }
      answer = await s.source.request(entry.cids, { signal, onBlocks, onProgress, onCancel: cancel => { entry.cancel = cancel } })
      if (held.length > 0) answer = { ...answer, blocks: [...held, ...answer.blocks] }
    } catch (err) {
      error = err
    }
    session.handling++
    try {
      await (answer === undefined ? this.onFailure(s, entry, error) : this.onAnswer(s, entry, answer))
    } finally {
      session.handling--
    }
  }

  private async onFailure (s: SourceStats, entry: Outstanding, err: unknown): Promise<void> {
    const { session } = this
    if (session.options.signal?.aborted === true) throw new AbortError()
    if (entry.controller.signal.aborted) return // cancelled: another source delivered these blocks
    session.why.set(s.source.id, (err as Error).message)
    // a stream can fail on its own; a source is dropped after MAX_FAILURES failures in a row
    if (++s.failures >= MAX_FAILURES && session.isLive(s)) {
      session.live.delete(s.source.id)
      session.emit({ type: 'fetch:source-failed', source: s.source.id, error: (err as Error).message })
    }
    await this.requests.giveBack(entry, this.requests.kept(entry))
  }

  private async onAnswer (s: SourceStats, entry: Outstanding, answer: BlockAnswer): Promise<void> {
    if (this.session.closed) return
    s.heard()
    // what crossed the network is counted even when the answer is then thrown away
    this.countWire(s.source, answer.wireBytes ?? answer.blocks.reduce((n, b) => n + b.bytes.length, 0))
    s.answeredIn((this.session.clock.now() - entry.started) / 1000, entry.stalled)
    if (!await this.take(s, entry, answer.blocks)) {
      await this.requests.giveBack(entry, this.requests.kept(entry))
      return
    }
    // what was neither sent nor (honestly) refused is asked of someone else; the refusal is remembered
    for (const c of [...entry.open.values()]) {
      entry.open.delete(keyOf(c))
      this.wants.lack(s, keyOf(c)) // (if it said it had the block, it no longer counts as a holder)
      await this.requests.giveBack(entry, [c])
    }
  }

  private countWire (source: BlockSource, bytes: number): void {
    const { result } = this.session
    result.wire[source.id] = (result.wire[source.id] ?? 0) + bytes
    result.wireBytes += bytes
  }

  /**
   * Blocks from `s` for `entry` (a whole answer or one message of it): verified, stored, their links walked.
   * False when nothing of the source is trusted: it sent a bad block, or was dropped while this was out.
   */
  private async take (s: SourceStats, entry: Outstanding, blocks: Block[]): Promise<boolean> {
    const { session } = this
    const { source } = s
    if (!session.isLive(s)) return false
    const good: Block[] = []
    for (const b of blocks) {
      if (!entry.open.delete(keyOf(b.cid))) continue // not asked for: ignored, never stored
      let corrupt = false
      const hasher = await getHasher(b.cid.multihash.code)
      // timed alone: an await inside the timing would count whatever else ran meanwhile as verification
      const v0 = session.clock.now()
      try {
        checkDigest(hasher, b.cid, b.bytes, `peer ${source.id}`)
      } catch (err) {
        if (!(err instanceof BlockCorruptError)) throw err
        corrupt = true
      }
      session.result.verifySeconds += (session.clock.now() - v0) / 1000
      if (corrupt || !session.isLive(s)) {
        // one bad block and nothing from this source is trusted; only the first to find out reports it
        if (session.isLive(s)) {
          session.live.delete(source.id)
          session.why.set(source.id, `sent a block that does not match ${b.cid}`)
          session.emit({ type: 'fetch:bad-block', cid: b.cid.toString(), source: source.id })
          source.misbehaved?.(`sent a block that does not match ${b.cid}`)
        }
        return false
      }
      good.push(b)
    }
    if (good.length === 0 || session.closed) return true
    this.walk.charge(good)
    const put = session.store.putMany(good, this.writes)
    this.storing.add(put)
    const r = await put.finally(() => this.storing.delete(put))
    if (session.closed) return true
    session.result.fetchedBlocks += r.newBlocks
    session.result.fetchedBytes += r.newBytes
    this.requests.cancelRaced(entry, good)
    let bytes = 0
    for (const b of good) {
      bytes += b.bytes.length
      this.walk.expand(b.cid, b.bytes, source.id)
      session.options.trading?.verified(keyOf(b.cid))
    }
    session.result.sources[source.id] = (session.result.sources[source.id] ?? 0) + bytes
    s.credit(bytes)
    source.verified?.(bytes)
    session.progressed()
    session.emit({ type: 'fetch:blocks', blocks: session.result.fetchedBlocks, bytes: session.result.fetchedBytes, source: source.id })
    await this.walk.settle()
    await this.requests.cancelSatisfied()
    return true
  }

  /** The fetch ended: wait for the writes under way, then end the store's session. */
  async close (): Promise<void> {
    await Promise.allSettled(this.storing)
    this.writes.end()
  }
}
