import * as dagCbor from '@ipld/dag-cbor'
import type { IdentifyResult, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { readFrames, sendFrame } from '../sync/exchange/framing.js'
import { ProtocolError } from '../sync/exchange/wire.js'
import {
  ANALYTICS_SYNC_PROTOCOL, MAX_REPORT_BYTES, MAX_SUMMARY_PERIODS, MAX_SYNC_IDS, MAX_SYNC_MESSAGE_BYTES, MAX_SYNC_WANTS,
  SYNC_MAX_INBOUND_STREAMS, SYNC_TIMEOUT_MS
} from './constants.js'
import type { PeriodSummary, ReleaseHoldings } from './holdings.js'
import { decodeReport } from './wire.js'

/** Where anti-entropy reads what this node holds and hands what it receives (to be verified and kept). */
export interface SyncHoldings {
  holdings: Pick<ReleaseHoldings, 'summary' | 'ids' | 'get'>
  /** Verify and keep an item from a peer: throws ERR_INVALID_REPORT on a malformed or false one. */
  receive: (bytes: Uint8Array) => string
}

/**
 * What one anti-entropy protocol exchanges: releases (the default), or the transcripts of secure rounds. Each kind
 * runs under its own protocol id, so a peer without one kind still exchanges the others.
 */
export interface SyncKind {
  protocol: string
  /** Largest item accepted (checked before it is decoded). */
  maxItemBytes: number
  /** Decode an item strictly and say which it is (throws ERR_INVALID_REPORT when malformed). */
  locate: (bytes: Uint8Array) => { start: number, id: Uint8Array }
}

/** Releases: /cmesh/analytics-sync/1.0.0. */
export const RELEASES: SyncKind = { protocol: ANALYTICS_SYNC_PROTOCOL, maxItemBytes: MAX_REPORT_BYTES, locate: decodeReport }

export interface AntiEntropyResult {
  /** Releases the peer sent that were stored (new to this node). */
  stored: number
  /** Releases asked for. */
  asked: number
}

const ID_BYTES = 16
const isStart = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

function decode (frame: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown
  try {
    v = dagCbor.decode(frame)
  } catch (err) {
    throw new ProtocolError(`malformed analytics ${what}: ${(err as Error).message}`)
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length !== 1) throw new ProtocolError(`analytics ${what} must be a map of one field`)
  return v as Record<string, unknown>
}

/** `{ summary: [[start, count, digest]] }`: at most MAX_SUMMARY_PERIODS periods. */
export function decodeSummary (frame: Uint8Array): PeriodSummary[] {
  const { summary } = decode(frame, 'summary')
  if (!Array.isArray(summary) || summary.length > MAX_SUMMARY_PERIODS) throw new ProtocolError('analytics summary must list at most ' + String(MAX_SUMMARY_PERIODS) + ' periods')
  return summary.map((e: unknown) => {
    if (!Array.isArray(e) || e.length !== 3 || !isStart(e[0]) || !Number.isSafeInteger(e[1]) || !(e[2] instanceof Uint8Array) || e[2].length !== 16) throw new ProtocolError('malformed analytics summary entry')
    return e as PeriodSummary
  })
}

/** `{ ids: [[start, [id...]]] }`: at most MAX_SYNC_IDS ids in all. */
export function decodeIds (frame: Uint8Array, key: 'ids' | 'want'): Array<[number, Uint8Array[]]> {
  const list = decode(frame, key)[key]
  if (!Array.isArray(list)) throw new ProtocolError(`analytics ${key} must be a list`)
  let n = 0
  const limit = key === 'ids' ? MAX_SYNC_IDS : MAX_SYNC_WANTS
  return list.map((e: unknown) => {
    if (!Array.isArray(e) || e.length !== 2 || !isStart(e[0]) || !Array.isArray(e[1])) throw new ProtocolError(`malformed analytics ${key} entry`)
    n += e[1].length
    if (n > limit) throw new ProtocolError(`analytics ${key} lists more than ${limit} ids`)
    if (!e[1].every((id: unknown) => id instanceof Uint8Array && id.length === ID_BYTES)) throw new ProtocolError(`analytics ${key}: ids are ${ID_BYTES} bytes`)
    return e as [number, Uint8Array[]]
  })
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b)

/**
 * /cmesh/analytics-sync/1.0.0, anti-entropy for released aggregates. The asker sends a summary of the periods it
 * holds (count and digest of ids each); the answerer lists its ids for every period whose digest differs; the
 * asker asks for the ids it lacks; the answerer sends those releases, one frame each. Every message is
 * size-capped before it is buffered, and every release is verified (strict decode, size, time window) before it is
 * kept, exactly as from gossip. Each node asks every peer it identifies, so two nodes meeting, after a partition or
 * a restart, end up holding the same releases.
 */
export class AntiEntropy {
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(this.kind.protocol)) void this.exchange(evt.detail.peerId).catch(() => {})
  }

  /**
   * Called once after every exchange this node started that ended well (tests wait on it; a daemon could log it).
   * An exchange that others joined while it ran is reported once.
   */
  onExchange: ((r: AntiEntropyResult) => void) | undefined

  constructor (
    private readonly libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getPeers' | 'addEventListener' | 'removeEventListener'>,
    private readonly local: SyncHoldings,
    private readonly kind: SyncKind = RELEASES
  ) {}

  async start (): Promise<void> {
    await this.libp2p.handle(this.kind.protocol, async (stream: Stream) => {
      try {
        await this.answer(stream)
        await stream.close()
      } catch (err) {
        stream.abort(err as Error)
      }
    }, { maxInboundStreams: SYNC_MAX_INBOUND_STREAMS })
    this.libp2p.addEventListener('peer:identify', this.onIdentify)
  }

  async stop (): Promise<void> {
    this.libp2p.removeEventListener('peer:identify', this.onIdentify)
    await this.libp2p.unhandle(this.kind.protocol).catch(() => {})
  }

  private async answer (stream: Stream): Promise<void> {
    const frames = readFrames(stream, MAX_SYNC_MESSAGE_BYTES)[Symbol.asyncIterator]()
    const next = async (what: string): Promise<Uint8Array> => {
      const r = await frames.next()
      if (r.done === true) throw new ProtocolError(`stream ended before the analytics ${what}`)
      return r.value
    }
    const theirs = new Map(decodeSummary(await next('summary')).map(([start, count, digest]) => [start, { count, digest }]))
    const ids: Array<[number, Uint8Array[]]> = []
    let listed = 0
    for (const [start, , digest] of this.local.holdings.summary(MAX_SUMMARY_PERIODS)) {
      const t = theirs.get(start)
      if (t !== undefined && same(t.digest, digest)) continue
      const mine = this.local.holdings.ids(start).slice(0, MAX_SYNC_IDS - listed)
      if (mine.length === 0) break
      ids.push([start, mine])
      listed += mine.length
    }
    await sendFrame(stream, dagCbor.encode({ ids }))
    if (ids.length === 0) return
    for (const [start, list] of decodeIds(await next('want'), 'want')) {
      for (const id of list) {
        const bytes = this.local.holdings.get(start, id)
        // a release dropped since the ids were listed is sent as nothing: the asker gets it next time
        await sendFrame(stream, bytes ?? new Uint8Array(0))
      }
    }
  }

  private readonly inFlight = new Map<string, Promise<AntiEntropyResult>>()

  /**
   * Exchange with one peer: what it holds that this node lacks is fetched, verified and kept. One exchange with a
   * peer at a time: one asked for meanwhile (a timer, a second identify) gets the outcome of the one under way.
   */
  async exchange (peer: PeerId, signal?: AbortSignal): Promise<AntiEntropyResult> {
    const key = peer.toString()
    let running = this.inFlight.get(key)
    if (running === undefined) {
      running = this.exchangeOnce(peer, signal).finally(() => this.inFlight.delete(key))
      this.inFlight.set(key, running)
      running.then(r => this.onExchange?.(r), () => {})
    }
    return await running
  }

  private async exchangeOnce (peer: PeerId, signal?: AbortSignal): Promise<AntiEntropyResult> {
    const timeout = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const stream = await this.libp2p.dialProtocol(peer, this.kind.protocol, { signal: combined })
    const onAbort = (): void => { stream.abort(new ProtocolError('analytics exchange timed out')) }
    combined.addEventListener('abort', onAbort, { once: true })
    try {
      const frames = readFrames(stream, MAX_SYNC_MESSAGE_BYTES)[Symbol.asyncIterator]()
      const next = async (what: string): Promise<Uint8Array> => {
        const r = await frames.next()
        if (r.done === true) throw new ProtocolError(`stream ended before the analytics ${what}`)
        return r.value
      }
      await sendFrame(stream, dagCbor.encode({ summary: this.local.holdings.summary(MAX_SUMMARY_PERIODS) }), combined)
      const want: Array<[number, Uint8Array[]]> = []
      let asked = 0
      for (const [start, ids] of decodeIds(await next('ids'), 'ids')) {
        const missing = ids.filter(id => this.local.holdings.get(start, id) === undefined).slice(0, MAX_SYNC_WANTS - asked)
        if (missing.length > 0) want.push([start, missing])
        asked += missing.length
      }
      let stored = 0
      if (want.length > 0) {
        await sendFrame(stream, dagCbor.encode({ want }), combined)
        for (const [start, ids] of want) {
          for (const id of ids) {
            const bytes = await next('release')
            if (bytes.length === 0) continue
            if (bytes.length > this.kind.maxItemBytes) throw new ProtocolError(`analytics item of ${bytes.length} bytes exceeds ${this.kind.maxItemBytes}`)
            // the answer must be the item asked for (a peer cannot push others in its place)
            const item = this.kind.locate(bytes)
            if (item.start !== start || !same(item.id, id)) throw new ProtocolError('analytics peer sent an item not asked for')
            if (this.local.receive(bytes) === 'stored') stored++
          }
        }
      }
      await stream.close().catch(() => {})
      return { stored, asked }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      combined.removeEventListener('abort', onAbort)
    }
  }

  /** Exchange with one connected peer picked at random (the daemon's timer). */
  async exchangeWithAny (): Promise<AntiEntropyResult | undefined> {
    const peers = this.libp2p.getPeers()
    if (peers.length === 0) return undefined
    return await this.exchange(peers[Math.floor(Math.random() * peers.length)]!)
  }
}
