import type { Connection, IdentifyResult, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import { systemClock, type Clock } from '../../clock.js'
import { cidKey } from '../../dag/cid.js'
import type { Blockstore } from '../../store/interface.js'
import type { Trading } from '../fetch/fetch-interface.js'
import { readFrames, sendFrame } from './framing.js'
import { decodeHoldings, encodeHoldings, LeafSet, MAX_HOLDINGS_LEAVES, MAX_HOLDINGS_MESSAGE_BYTES, type HoldingsMessage } from './holdings.js'
import { HoldingsTable, type HoldingsTableOptions } from './holdings-table.js'
import {
  HAVE_BATCH_LEAVES,
  HAVE_BATCH_MS,
  HOLDINGS_PROTOCOL,
  HOLDINGS_SEND_TIMEOUT_MS,
  MAX_HOLDINGS_FRAMES_PER_STREAM,
  MAX_HOLDINGS_INBOUND_STREAMS,
  MAX_HOLDINGS_QUEUED_PER_PEER,
  MAX_TRADED_FILES_PER_FETCH,
  MIN_TRADED_LEAVES
} from './constants.js'
import { SuperSeeder } from './super-seed.js'
import { ProtocolError } from './wire.js'

export interface HoldingsServiceOptions {
  /** Times the batching of have messages. @default the system clock */
  clock?: Clock
  /** A have batch is sent this long after its first leaf at most (ms). @default HAVE_BATCH_MS (250) */
  batchMs?: number
  /** A have batch is sent at once when it holds this many leaves. @default HAVE_BATCH_LEAVES (64) */
  batchLeaves?: number
  /** Bounds of the table of what peers said (see HoldingsTable). */
  table?: HoldingsTableOptions
  /** Trade holdings over limited (relayed) connections too (see BlockServiceOptions.allowRelayedTransfers). @default false */
  allowRelayedTransfers?: boolean
  /**
   * Super-seed the files this node holds whole and peers trade on (SuperSeeder; the block service consults
   * `superSeeder`). Off by default: it cuts the seeder's copies, but downloads took longer in bench:crowd.
   * @default false
   */
  superSeed?: boolean
}

/** Messages this node sent and took, by type (`cmesh stats`, tests). */
export interface HoldingsCounts {
  sent: { holdings: number, have: number }
  received: { holdings: number, have: number }
  /** Messages refused (malformed, or a leaf count other than the DAG's). */
  refused: number
}

/** A file node this node is fetching: its leaves, what is held of them, and the peers that trade on it. */
interface Traded {
  root: CID
  key: string
  held: LeafSet
  /** Leaves verified since the last have. */
  pending: LeafSet | undefined
  timer: unknown
  /** Peers that took our summary of it or sent us theirs: they get our haves (an old peer never does). */
  met: Set<string>
}

/**
 * The /cmesh/holdings/1.0.0 protocol: peers fetching the same file trade what they hold of its leaves (the file
 * node's links, in order; the file node's CID is the root of its holdings). When a fetch reaches a file node it
 * sends a 'holdings' summary to every source of the fetch; a peer fetching the same file answers with its own the
 * first time it hears of it, and from then on every peer that took our summary or sent us its own gets our 'have'
 * batches of newly verified leaves, every
 * `batchMs` or `batchLeaves` leaves, whichever comes first, never one per block. Each message travels on a stream
 * of its own (at most MAX_HOLDINGS_FRAMES_PER_STREAM frames of MAX_HOLDINGS_MESSAGE_BYTES), decoded strictly; what
 * peers say goes to one bounded HoldingsTable, which the fetcher consults through a per-fetch Trading.
 */
export class HoldingsService {
  readonly table: HoldingsTable
  /** Undefined when turned off (HoldingsServiceOptions.superSeed). */
  readonly superSeeder: SuperSeeder | undefined
  readonly counts: HoldingsCounts = { sent: { holdings: 0, have: 0 }, received: { holdings: 0, have: 0 }, refused: 0 }
  private readonly clock: Clock
  private readonly batchMs: number
  private readonly batchLeaves: number
  /** Files being fetched, by root string (the latest fetch of a file wins). */
  private readonly traded = new Map<string, Traded>()
  /** Messages to each peer go one after another: a have must not overtake the holdings it adds to. */
  private readonly queues = new Map<string, { waiting: HoldingsMessage[], running: boolean }>()
  private changes = 0
  private readonly relayed: boolean

  constructor (
    private readonly components: {
      libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'addEventListener' | 'removeEventListener'>
      store: Pick<Blockstore, 'sizeOf' | 'getSync'>
    },
    init: HoldingsServiceOptions = {}
  ) {
    this.clock = init.clock ?? systemClock
    this.batchMs = init.batchMs ?? HAVE_BATCH_MS
    this.batchLeaves = init.batchLeaves ?? HAVE_BATCH_LEAVES
    this.table = new HoldingsTable(init.table)
    this.relayed = init.allowRelayedTransfers ?? false
    this.superSeeder = (init.superSeed ?? false) ? new SuperSeeder(this.table, components.store, this.clock) : undefined
  }

  /** Grows whenever what peers said changes. */
  get version (): number {
    return this.changes
  }

  async start (): Promise<void> {
    await this.components.libp2p.handle(HOLDINGS_PROTOCOL, async (stream: Stream, connection: Connection) => {
      await this.receive(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: MAX_HOLDINGS_INBOUND_STREAMS, runOnLimitedConnection: this.relayed })
    this.components.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    this.components.libp2p.addEventListener('peer:identify', this.onIdentify)
  }

  async stop (): Promise<void> {
    this.components.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    this.components.libp2p.removeEventListener('peer:identify', this.onIdentify)
    await this.components.libp2p.unhandle(HOLDINGS_PROTOCOL)
    for (const t of this.traded.values()) this.clock.clearTimeout(t.timer)
    this.traded.clear()
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.table.forget(evt.detail.toString())
    this.superSeeder?.forget(evt.detail.toString())
    this.changes++
  }

  /** A peer that speaks the protocol trades: it learns who else holds a leaf (its summary may come after its first request). */
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(HOLDINGS_PROTOCOL)) this.superSeeder?.trades(evt.detail.peerId.toString())
  }

  /** A Trading for one fetch (FetchOptions.trading). */
  trading (): Trading {
    return new FetchTrading(this)
  }

  private async receive (stream: Stream, peer: string): Promise<void> {
    try {
      let frames = 0
      for await (const frame of readFrames(stream, MAX_HOLDINGS_MESSAGE_BYTES)) {
        if (++frames > MAX_HOLDINGS_FRAMES_PER_STREAM) throw new ProtocolError(`more than ${MAX_HOLDINGS_FRAMES_PER_STREAM} holdings messages on one stream`)
        this.take(peer, decodeHoldings(frame))
      }
      await stream.close()
    } catch (err) {
      this.counts.refused++
      stream.abort(err as Error)
    }
  }

  /** Take a message `peer` sent; a first 'holdings' of a file this node fetches is answered with ours. */
  take (peer: string, m: HoldingsMessage): void {
    const t = this.traded.get(m.root.toString())
    const taken = this.table.receive(peer, m, t?.held.size)
    this.counts.received[m.t]++
    this.changes++
    // a file this node does not fetch: it may hold it whole, and seed it
    if (t === undefined && taken) this.superSeeder?.told(peer, m.root)
    if (t === undefined || t.met.has(peer)) return
    t.met.add(peer)
    // it fetches the same file and just learned of us, or our summary went before it fetched: ours, now
    if (m.t === 'holdings') this.send(peer, [{ t: 'holdings', root: t.root, leaves: copy(t.held) }])
  }

  /**
   * Send `messages` to `peer` after those queued for it; failures are dropped (an old peer, or one gone). Messages
   * queued while a stream is out go together on the next one: a busy swarm opens fewer streams, not more.
   */
  send (peer: string, messages: HoldingsMessage[]): void {
    let target: PeerId
    try {
      target = peerIdFromString(peer)
    } catch {
      return // not a peer (an HTTP mirror, this store)
    }
    let q = this.queues.get(peer)
    if (q === undefined) this.queues.set(peer, q = { waiting: [], running: false })
    // what a slow peer has not taken yet is news it can do without: bounded
    if (q.waiting.length + messages.length > MAX_HOLDINGS_QUEUED_PER_PEER) return
    q.waiting.push(...messages)
    if (!q.running) void this.drain(peer, target, q)
  }

  private async drain (peer: string, target: PeerId, q: { waiting: HoldingsMessage[], running: boolean }): Promise<void> {
    q.running = true
    try {
      while (q.waiting.length > 0) {
        const batch = q.waiting.splice(0, MAX_HOLDINGS_FRAMES_PER_STREAM)
        const signal = AbortSignal.timeout(HOLDINGS_SEND_TIMEOUT_MS)
        try {
          const stream = await this.components.libp2p.dialProtocol(target, HOLDINGS_PROTOCOL, { signal, runOnLimitedConnection: this.relayed })
          try {
            for (const m of batch) {
              await sendFrame(stream, encodeHoldings(m), signal)
              this.counts.sent[m.t]++
              // it took our summary: it gets our haves from now on, so what it knows of us stays current
              if (m.t === 'holdings') this.traded.get(m.root.toString())?.met.add(peer)
            }
            await stream.close({ signal })
          } catch (err) {
            stream.abort(err as Error)
          }
        } catch {} // it does not speak the protocol, or is gone: the batch is dropped
      }
    } finally {
      q.running = false
      if (this.queues.get(peer) === q) this.queues.delete(peer)
    }
  }

  /** Start trading on file `root` (the latest fetch of it wins). */
  track (t: Traded): void {
    const old = this.traded.get(t.key)
    if (old !== undefined) this.clock.clearTimeout(old.timer)
    this.traded.set(t.key, t)
  }

  untrack (t: Traded): void {
    this.clock.clearTimeout(t.timer)
    if (this.traded.get(t.key) === t) this.traded.delete(t.key)
  }

  /** Leaf `index` of `t` was verified: into the batch, sent when full or when its time comes. */
  verified (t: Traded, index: number): void {
    if (!t.held.add(index)) return
    t.pending ??= new LeafSet(t.held.size)
    t.pending.add(index)
    if (t.pending.count >= this.batchLeaves) this.flush(t)
    else if (t.timer === undefined) t.timer = this.clock.setTimeout(() => { this.flush(t) }, this.batchMs)
  }

  /** Send the batch of `t` to the peers trading on it. */
  flush (t: Traded): void {
    this.clock.clearTimeout(t.timer)
    t.timer = undefined
    const leaves = t.pending
    t.pending = undefined
    if (leaves === undefined || leaves.count === 0) return
    for (const peer of t.met) this.send(peer, [{ t: 'have', root: t.root, leaves }])
  }

  /** Someone's claim was denied: whether it is distrusted now. */
  denied (peer: string, root: string, leaf: number): boolean {
    this.changes++
    return this.table.denied(peer, root, leaf)
  }

  /** What `root`'s leaves of this node are, as a new set (leaves held in the store). */
  heldOf (leaves: CID[]): LeafSet {
    const set = new LeafSet(leaves.length)
    leaves.forEach((c, i) => { if (this.components.store.sizeOf(c) !== undefined) set.add(i) })
    return set
  }

  newTraded (root: CID, held: LeafSet): Traded {
    return { root, key: root.toString(), held, pending: undefined, timer: undefined, met: new Set() }
  }
}

function copy (set: LeafSet): LeafSet {
  const out = new LeafSet(set.size)
  out.addAll(set)
  return out
}

/** One fetch's side of the trade: the files it reached, and each of their leaves' place. */
class FetchTrading implements Trading {
  private readonly files: Traded[] = []
  /** Where each leaf of a traded file sits, by block key (a block in two files: the first). */
  private readonly leafOf = new Map<string, { t: Traded, index: number }>()
  /** Sources told our holdings (they get them again when a new file is reached). */
  private readonly sources = new Set<string>()
  private closed = false

  constructor (private readonly service: HoldingsService) {}

  get version (): number {
    return this.service.version
  }

  file (node: CID, leaves: CID[], sources: string[]): void {
    if (this.closed || leaves.length < MIN_TRADED_LEAVES || leaves.length > MAX_HOLDINGS_LEAVES) return
    if (this.files.length >= MAX_TRADED_FILES_PER_FETCH || this.files.some(f => f.root.equals(node))) return
    const t = this.service.newTraded(node, this.service.heldOf(leaves))
    this.files.push(t)
    leaves.forEach((c, index) => { const k = cidKey(c); if (!this.leafOf.has(k)) this.leafOf.set(k, { t, index }) })
    this.service.track(t)
    for (const s of sources) this.sources.add(s)
    for (const s of this.sources) this.service.send(s, [{ t: 'holdings', root: t.root, leaves: copy(t.held) }])
  }

  joined (source: string): void {
    if (this.closed || this.sources.has(source)) return
    this.sources.add(source)
    if (this.files.length === 0) return
    this.service.send(source, this.files.map(t => ({ t: 'holdings' as const, root: t.root, leaves: copy(t.held) })))
  }

  verified (key: string): void {
    const at = this.leafOf.get(key)
    if (at !== undefined && !this.closed) this.service.verified(at.t, at.index)
  }

  holds (source: string, key: string): boolean | undefined {
    const at = this.leafOf.get(key)
    return at === undefined ? undefined : this.service.table.holds(source, at.t.key, at.index)
  }

  denied (source: string, key: string): void {
    const at = this.leafOf.get(key)
    if (at !== undefined) this.service.denied(source, at.t.key, at.index)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    for (const t of this.files) {
      this.service.flush(t)
      this.service.untrack(t)
    }
  }
}
