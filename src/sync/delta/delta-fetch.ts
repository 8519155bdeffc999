/**
 * The asker's side, for one fetch of a new version while the old one is held: a BaseHint (FetchOptions.base) that
 * learns the bases as the new DAG's nodes are expanded, and wraps each peer source so that a request for blocks
 * with bases asks the peer for deltas first; every delta is applied to the held bases, and the result kept only if
 * it hashes to the wanted CID. What is not answered by a verified delta (no base held, "no", a bad delta, a peer that
 * does not speak the protocol) is asked of the source as before, in the same request.
 */
import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import { verifyBlock } from '../../dag/verify.js'
import type { Block } from '../../store/interface.js'
import type { BaseHint, BlockAnswer, BlockSource, RequestOptions } from '../fetch/fetch-interface.js'
import { applyDelta } from './codec.js'
import { DELTA_MAX_ASK_FAILURES, MAX_DELTA_WANTS } from './constants.js'
import { BasePicker } from './pairing.js'
import { joinBases, type DeltaReply, type DeltaWant } from './wire.js'

export interface DeltaFetchStats {
  /** Blocks received as verified deltas, and the wire bytes of the delta answers. */
  deltaBlocks: number
  deltaWireBytes: number
  /** Bytes those blocks are (what the block exchange would have sent). */
  deltaBlockBytes: number
  /** Deltas that did not decode or did not hash to the wanted CID (their blocks came as blocks). */
  rejected: number
  /** Delta requests that failed (refused, reset, timed out): their blocks came as blocks. */
  failedAsks: number
}

export class DeltaFetch implements BaseHint {
  readonly stats: DeltaFetchStats = { deltaBlocks: 0, deltaWireBytes: 0, deltaBlockBytes: 0, rejected: 0, failedAsks: 0 }
  private readonly picker: BasePicker
  /** Sources not asked for deltas any more: they do not speak the protocol, failed often, or sent a bad delta. */
  private readonly off = new Set<string>()
  private readonly failures = new Map<string, number>()

  constructor (
    private readonly ask: (peer: string, wants: DeltaWant[], signal?: AbortSignal) => Promise<DeltaReply>,
    store: { getSync: (cid: CID) => Uint8Array },
    newRoot: CID,
    oldRoot: CID
  ) {
    this.picker = new BasePicker(store, newRoot, oldRoot)
  }

  expanded (cid: CID, bytes: Uint8Array): void {
    this.picker.expanded(cid, bytes)
  }

  wrap (source: BlockSource): BlockSource {
    if ((source.kind ?? 'peer') !== 'peer') return source
    const wrapped: BlockSource = {
      id: source.id,
      kind: source.kind,
      request: async (cids, options) => await this.request(source, cids, options)
    }
    if (source.misbehaved !== undefined) wrapped.misbehaved = source.misbehaved.bind(source)
    if (source.verified !== undefined) wrapped.verified = source.verified.bind(source)
    if (source.haves !== undefined) wrapped.haves = source.haves.bind(source)
    return wrapped
  }

  private async request (source: BlockSource, cids: CID[], options: RequestOptions): Promise<BlockAnswer> {
    const cancelled = new Set<string>()
    let innerCancel: ((cids: CID[]) => void) | undefined
    options.onCancel?.(gone => {
      for (const c of gone) cancelled.add(cidKey(c))
      innerCancel?.(gone)
    })
    const asked: Array<DeltaWant & { base: Uint8Array }> = []
    if (!this.off.has(source.id)) {
      for (const cid of cids) {
        if (asked.length >= MAX_DELTA_WANTS) break
        const bases = this.picker.basesOf(cid)
        const base = bases === undefined ? undefined : joinBases(bases.map(b => this.picker.read(b)))
        if (base !== undefined) asked.push({ cid, bases: bases!, base })
      }
    }
    const got: Block[] = []
    let wire = 0
    if (asked.length > 0) {
      let reply: DeltaReply | undefined
      try {
        reply = await this.ask(source.id, asked.map(a => ({ cid: a.cid, bases: a.bases })), options.signal)
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        this.stats.failedAsks++
        const failures = (this.failures.get(source.id) ?? 0) + 1
        this.failures.set(source.id, failures)
        if ((err as Error).name === 'UnsupportedProtocolError' || failures >= DELTA_MAX_ASK_FAILURES) this.off.add(source.id)
      }
      if (reply !== undefined) {
        wire = reply.wireBytes
        for (let i = 0; i < asked.length; i++) {
          const d = reply.deltas[i]
          const a = asked[i]!
          if (d === undefined || cancelled.has(cidKey(a.cid))) continue
          try {
            const bytes = applyDelta(a.base, d)
            await verifyBlock(a.cid, bytes, `a delta from ${source.id}`)
            got.push({ cid: a.cid, bytes })
            this.stats.deltaBlocks++
            this.stats.deltaBlockBytes += bytes.length
          } catch {
            // a delta that does not give the wanted block: this source's blocks come as blocks from now on
            this.stats.rejected++
            this.off.add(source.id)
          }
        }
        this.stats.deltaWireBytes += wire
      }
    }
    if (got.length > 0 && options.onBlocks !== undefined) {
      await options.onBlocks(got, wire)
      wire = 0
    }
    const done = new Set(got.map(b => cidKey(b.cid)))
    const rest = cids.filter(c => !done.has(cidKey(c)) && !cancelled.has(cidKey(c)))
    const mine = options.onBlocks === undefined ? got : []
    if (rest.length === 0) return { blocks: mine, missing: [], wireBytes: wire }
    const inner = await source.request(rest, { ...options, onCancel: cancel => { innerCancel = cancel } })
    const innerWire = inner.wireBytes ?? inner.blocks.reduce((s, b) => s + b.bytes.length, 0)
    return { blocks: [...mine, ...inner.blocks], missing: inner.missing, wireBytes: innerWire + wire }
  }
}
