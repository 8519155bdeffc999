import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { peerIdFromString } from '@libp2p/peer-id'
import { cidKey } from '../../dag/cid.js'
import { BufferBudgetError } from '../../errors.js'
import { FloodGuard } from '../../policy/fairness/flood-guard.js'
import { Ledger } from '../../policy/fairness/ledger.js'
import { parsePolicy, type Policy } from '../../policy/fairness/policy-file.js'
import { PriorityClasses } from '../../policy/fairness/priority-classes.js'
import { uploadGroup } from '../../policy/fairness/upload-groups.js'
import { UploadScheduler, type UploadGrant, type UploadSchedulerOptions } from '../../policy/fairness/upload-scheduler.js'
import { Unchoker } from '../../policy/fairness/unchoker.js'
import type { Block, Blockstore } from '../../store/interface.js'
import { CompressionGate, packMessage } from './compression.js'
import { drain } from './drain.js'
import { BufferBudget } from './buffer-budget.js'
import {
  BLOCKS_PROTOCOL_V1,
  BLOCKS_PROTOCOLS,
  BUFFER_BUDGET_BYTES,
  DEFAULT_COMPRESS,
  MAX_ENTRIES,
  MAX_COMPRESS_GATES,
  MAX_MESSAGE_BYTES,
  MESSAGE_TARGET_BYTES,
  QUEUED_CID_BYTES
} from './constants.js'
import type { BlockSource } from '../fetch/fetch-interface.js'
import { framedLength, readFrames, SendQueue } from './framing.js'
import { decodeMessage, encodeBinaryBlocksFrom, encodeMessage, ProtocolError } from './wire.js'
import { askHaves, requestBlocks, type Requester } from './peer-requests.js'
import { BlockChannel } from './channel.js'
import type { BlockServiceOptions, PeerFairness, PeerStats } from './block-service-types.js'

export type { BlockServiceOptions, PeerFairness, PeerStats } from './block-service-types.js'

/** Concurrent block-exchange streams a peer may open to us, per connection. */
const MAX_INBOUND_STREAMS = 16
/** Wants one stream may have waiting for their answers; more is a protocol violation. */
const MAX_QUEUED_WANTS = 64

export class BlockService {
  private readonly gates = new Map<string, CompressionGate>()
  readonly stats = new Map<string, PeerStats>()
  private readonly libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'hangUp' | 'getConnections'>
  private readonly store: Pick<Blockstore, 'has' | 'getSync' | 'sizeOf' | 'copyInto'>

  /** Upload scheduling (recreated when the policy changes its settings). */
  scheduler: UploadScheduler
  /** The settings `scheduler` was made with. */
  private schedulerSettings = ''
  readonly ledger: Ledger
  readonly unchoker: Unchoker
  readonly flood: FloodGuard
  readonly priorities: PriorityClasses
  private policy: Policy
  private readonly uploadLimit: number | undefined
  private readonly fairOverride: boolean | undefined
  private readonly groups = new Map<string, string>()
  private readonly askHaves: boolean
  /** Blocks also flow over limited (relayed) connections (BlockServiceOptions.allowRelayedTransfers). */
  private readonly relayed: boolean
  private readonly compress: boolean
  private readonly superSeeder: BlockServiceOptions['superSeeder']
  readonly banned: Set<string>
  /** Buffers requesters make this node hold, over all their connections and streams. */
  readonly budget: BufferBudget
  /** Requests answered so far: a request's number orders its messages among its peer's others. */
  private requests = 0
  /** Our long-lived block stream to each peer we fetch from, by peer id. */
  private readonly channels = new Map<string, BlockChannel>()
  /** Each requester connection's upload group, for the policy it was worked out under (one lookup per connection, not per stream). */
  private readonly connectionGroups = new WeakMap<Connection, { policy: Policy, group: string }>()

  constructor (components: {
    libp2p: Pick<Libp2p,
    'handle' | 'unhandle' | 'dialProtocol' | 'hangUp' | 'getConnections'>,
    store: Pick<Blockstore,
    'has' | 'getSync' | 'sizeOf' | 'copyInto'>
  }, init: BlockServiceOptions = {}) {
    this.libp2p = components.libp2p
    this.store = components.store
    this.uploadLimit = init.uploadLimit
    this.fairOverride = init.fair
    this.policy = init.policy ?? parsePolicy({})
    this.ledger = init.ledger ?? new Ledger()
    this.unchoker = new Unchoker(this.ledger, this.policy.fairness.unchoke)
    this.flood = new FloodGuard(this.policy.fairness.flood, (peer, _reason, score) => { this.peer(peer).score -= score })
    this.priorities = new PriorityClasses(components.store, this.policy.priorities)
    this.scheduler = this.makeScheduler()
    this.askHaves = init.rarestFirst ?? false
    this.relayed = init.allowRelayedTransfers ?? false
    this.compress = init.compress ?? DEFAULT_COMPRESS
    this.superSeeder = init.superSeeder
    this.banned = init.banned ?? new Set()
    this.budget = new BufferBudget({
      limit: init.bufferLimit ?? BUFFER_BUDGET_BYTES,
      // its streams were aborted: a strike (throttled for a while, scored down), and its connections closed
      onEvict: peer => {
        this.flood.strike(peer, 'flood')
        void this.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
      }
    })
  }

  private makeScheduler (): UploadScheduler {
    const options = this.schedulerOptions()
    this.schedulerSettings = JSON.stringify(options)
    return new UploadScheduler(options)
  }

  private schedulerOptions (): UploadSchedulerOptions {
    const f = this.policy.fairness
    return {
      fair: this.fairOverride ?? f.enabled ?? true,
      rate: this.uploadLimit,
      maxShare: f.maxShare,
      shareWindowMs: f.shareWindowMs,
      quantumBytes: f.quantumBytes,
      messageBytes: f.messageBytes,
      maxMessageBytes: MESSAGE_TARGET_BYTES,
      slots: f.slots,
      classes: this.priorities.names.length,
      congestion: f.congestion?.enabled === false ? false : f.congestion
    }
  }

  /**
   * Apply a changed policy file: new requests use the new scheduler, waiting ones finish under the old. A policy
   * whose scheduler settings are unchanged (new priority rules or weights, or the same file read again) keeps the
   * scheduler: a new one would pace beside the old to the whole limit while the old one's queue drains, neither
   * seeing the other's priorities.
   */
  setPolicy (policy: Policy): void {
    this.policy = policy
    this.priorities.set(policy.priorities)
    if (JSON.stringify(this.schedulerOptions()) === this.schedulerSettings) return
    this.scheduler = this.makeScheduler()
  }

  /** A peer's weight in the upload scheduler: policy weight x unchoke state x throttle. */
  weight (peer: string): number {
    return (this.policy.fairness.weights?.[peer] ?? 1) * this.unchoker.weight(peer) * this.flood.factor(peer)
  }

  /** The ledger, choke state and share of every peer we exchanged blocks with. */
  fairness (): PeerFairness[] {
    this.unchoker.tick()
    const shares = this.scheduler.shares()
    return this.ledger.rows().map(r => {
      const group = this.groups.get(r.peer)
      return {
        peer: r.peer,
        group,
        sent: r.sent,
        received: r.received,
        ratio: r.ratio,
        choke: this.unchoker.state(r.peer),
        seeding: this.unchoker.seeding(r.peer),
        weight: this.weight(r.peer),
        share: group === undefined ? 0 : shares[group] ?? 0,
        strikes: this.flood.strikes(r.peer),
        throttled: this.flood.throttled(r.peer),
        score: this.stats.get(r.peer)?.score ?? 0
      }
    })
  }

  /** Whether the answers to a peer have been worth compressing (see CompressionGate). */
  private gate (id: string): CompressionGate {
    let g = this.gates.get(id)
    if (g === undefined) {
      if (this.gates.size >= MAX_COMPRESS_GATES) this.gates.clear()
      this.gates.set(id, g = new CompressionGate())
    }
    return g
  }

  /**
   * Wait for an upload turn for `bytes` that another protocol (bitswap) sends to `peer` of `group`: the same
   * scheduler, upload limit and fair shares as this protocol's answers, and the bytes counted in the ledger (a row
   * of `fairness()`).
   */
  async chargeUpload (peer: string, group: string, bytes: number, signal?: AbortSignal): Promise<void> {
    this.unchoker.tick()
    this.groups.set(peer, group)
    const grant = await this.scheduler.acquire({ peer, group, weight: this.weight(peer), signal })
    grant.release(bytes)
    this.ledger.addSent(peer, bytes)
  }

  peer (id: string): PeerStats {
    let s = this.stats.get(id)
    if (s === undefined) this.stats.set(id, s = { blocksServed: 0, bytesReceived: 0, score: 0 })
    return s
  }

  async start (): Promise<void> {
    await this.libp2p.handle(BLOCKS_PROTOCOLS, async (stream: Stream, connection: Connection) => {
      const peer = connection.remotePeer.toString()
      const group = this.groupOf(connection, peer)
      this.groups.set(peer, group)
      await this.serve(stream, peer, group)
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, runOnLimitedConnection: this.relayed })
  }

  /** The upload group of a requester's connection (its address or subnet under the policy's prefixes). */
  private groupOf (connection: Connection, peer: string): string {
    const known = this.connectionGroups.get(connection)
    if (known !== undefined && known.policy === this.policy) return known.group
    const f = this.policy.fairness
    // uploadGroup lists the host's interfaces (for its segments): worked out once per connection, not per stream
    const group = uploadGroup(
      connection.remoteAddr?.toString(),
      peer,
      { prefixV4: f.groupPrefixV4, prefixV6: f.groupPrefixV6, segmentPrefixV4: f.segmentPrefixV4 }
    )
    this.connectionGroups.set(connection, { policy: this.policy, group })
    return group
  }

  async stop (): Promise<void> {
    for (const c of this.channels.values()) c.close()
    this.channels.clear()
    for (const protocol of BLOCKS_PROTOCOLS) await this.libp2p.unhandle(protocol)
    this.scheduler.close()
    this.ledger.close()
  }

  /**
   * Answer one requester's stream: wants are read as they come and answered in order, each answer message waiting
   * for its turn in the upload scheduler; a cancel drops its blocks from the wants not yet answered.
   */
  private async serve (stream: Stream, peer: string, group: string): Promise<void> {
    // a requester that resets the stream (a cancelled request) also stops our wait for a turn
    const gone = new AbortController()
    stream.addEventListener('close', () => { gone.abort() }, { once: true })
    // what this stream makes us hold: frames as they arrive, queued wants, answers not yet sent
    const account = this.budget.open(peer, err => { stream.abort(err) })
    const out = new SendQueue(stream, account)
    const queue: Array<{ cids: CID[], blocks: boolean, bytes: number }> = []
    const cancelled = new Set<string>()
    // blocks of the wants queued or being answered: a cancel of anything else is dropped, so that a long-lived
    // stream's cancels are held no longer than the wants they refer to
    const wanted = new Map<string, number>()
    /** A want answered or dropped: no longer pending, its bytes given back, its blocks no longer wanted by it. */
    const finish = (want: { cids: CID[], blocks: boolean, bytes: number }): void => {
      if (want.blocks) this.flood.done(peer)
      account.release(want.bytes)
      for (const c of want.cids) {
        const k = cidKey(c)
        const n = (wanted.get(k) ?? 1) - 1
        if (n > 0) wanted.set(k, n)
        else {
          wanted.delete(k)
          cancelled.delete(k)
        }
      }
    }
    let wake: (() => void) | undefined
    let ended = false
    let failure: Error | undefined
    const reader = (async () => {
      try {
        for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES, account)) {
          const m = decodeMessage(frame)
          if (m.t === 'cancel') {
            const keys = m.cids.map(cidKey)
            for (const k of keys) if (wanted.has(k)) cancelled.add(k)
            this.flood.cancelled(peer, keys)
            // a queued want whose every block is cancelled is dropped now, not when its turn comes: it no longer
            // counts as a pending request of the peer (a requester on one long-lived stream cancels instead of
            // resetting a stream, and then sends new requests)
            for (let i = queue.length - 1; i >= 0; i--) {
              const w = queue[i]!
              if (!w.cids.every(c => cancelled.has(cidKey(c)))) continue
              queue.splice(i, 1)
              finish(w)
            }
          } else if (m.t === 'want') {
            if (queue.length >= MAX_QUEUED_WANTS) throw new ProtocolError(`more than ${MAX_QUEUED_WANTS} wants queued on one stream`)
            if (m.blocks) {
              this.flood.request(peer, m.cids.map(cidKey))
              this.unchoker.interest(peer)
            }
            for (const c of m.cids) {
              const k = cidKey(c)
              cancelled.delete(k)
              wanted.set(k, (wanted.get(k) ?? 0) + 1)
            }
            // a decoded want holds far more than its frame: its CIDs, until it is answered
            const bytes = frame.length + m.cids.length * QUEUED_CID_BYTES
            if (!account.reserve(bytes)) throw new BufferBudgetError(`refused a queued want of ${bytes} bytes: the buffer budget is spent`)
            queue.push({ cids: m.cids, blocks: m.blocks, bytes })
          } else {
            throw new ProtocolError(`unexpected ${m.t} message from a requester`)
          }
          wake?.()
        }
      } catch (err) {
        failure = err as Error
        // at once: unread bytes would pile up in the stream's own buffer while earlier wants are answered
        stream.abort(failure)
      } finally {
        ended = true
        wake?.()
      }
    })()
    try {
      for (;;) {
        const want = queue.shift()
        if (want === undefined) {
          if (failure !== undefined) throw failure
          if (ended) break
          await new Promise<void>(resolve => { wake = resolve })
          wake = undefined
          continue
        }
        try {
          await this.answer(out, peer, group, want, cancelled, gone.signal, stream.protocol !== BLOCKS_PROTOCOL_V1)
        } finally {
          finish(want)
        }
      }
      await stream.close()
    } catch (err) {
      // a broken protocol costs the peer; a reset stream (a cancelled request) does not; the reader's error is the cause
      const cause = failure ?? err as Error
      if (cause instanceof ProtocolError) this.peer(peer).score -= 10
      stream.abort(cause)
    } finally {
      for (const w of queue) if (w.blocks) this.flood.done(peer)
      queue.length = 0
      await reader
      account.close()
    }
  }

  private async answer (
    out: SendQueue,
    peer: string,
    group: string,
    want: { cids: CID[], blocks: boolean },
    cancelled: Set<string>,
    signal: AbortSignal,
    binary: boolean
  ): Promise<void> {
    const { cids, blocks: sendBlocks } = want
    const missing: CID[] = []
    const have: CID[] = []
    for (const cid of cids) {
      if (await this.store.has(cid)) have.push(cid)
      else missing.push(cid)
    }
    // what this node lacks is said at once, before any turn to send: a peer that holds none of a request costs
    // the upload nothing and the requester only a round trip
    if (missing.length > 0) await out.send(encodeMessage({ t: 'dont-have', cids: missing.splice(0) }))
    // a super-seeder sends the leaves nobody has had from it first
    const held = !sendBlocks ? [] : this.superSeeder?.order(have) ?? have
    const superSeeder = sendBlocks ? this.superSeeder : undefined
    const scheduler = this.scheduler
    const priority = sendBlocks ? this.priorities.classify(peer, cids) : 0
    const order = this.requests++
    // leaves just sent to another peer wait a moment for its have, and then go to it instead of from here again
    if (superSeeder !== undefined && held.length > 0) await superSeeder.hold(peer, held, signal)
    const turn = async (): Promise<UploadGrant> => await scheduler.acquire({ peer, group, priority, order, weight: this.weight(peer), signal })
    // the next turn is asked for as this one begins, so the request keeps its place in the queue while this
    // message is read, packed and sent (on a busy machine that outlasts a turn): any waiting request, a bulk one
    // too, would otherwise go ahead of a critical one, and get a large message as if nobody else were waiting
    let next: Promise<UploadGrant> | undefined
    let i = 0
    try {
      while (i < held.length) {
        this.unchoker.tick()
        const grant = await (next ?? turn())
        next = undefined
        let wire = 0
        let sending: Promise<void> | undefined
        if (held.length - i > 1) { // more than this message may take
          next = turn()
          next.catch(() => {}) // an aborted turn is seen where it is awaited
        }
        try {
          // a binary message is built straight from the store's map (sizes from the index, then one copy of each
          // block into the message); a 1.0.0 peer's DAG-CBOR message needs each block's bytes first
          const batch: Array<{ cid: CID, size: number }> = []
          const blocks: Block[] = []
          let batchBytes = 0
          while (i < held.length && batchBytes < grant.maxBytes && batch.length < MAX_ENTRIES) {
            const cid = held[i]!
            i++
            if (cancelled.has(cidKey(cid))) continue // the requester no longer wants it: it gets no answer for it
            // sent before, and another peer holds it: the requester takes it from there (it gets it if it asks again)
            if (superSeeder?.refuse(peer, cid) === true) {
              missing.push(cid)
              continue
            }
            const size = this.store.sizeOf(cid)
            if (size === undefined) {
              missing.push(cid) // removed since it was looked up (garbage collection)
              continue
            }
            if (!binary) blocks.push({ cid, bytes: this.store.getSync(cid) })
            batch.push({ cid, size })
            batchBytes += size
            superSeeder?.sent(cid)
          }
          if (batch.length > 0) {
            // sizes and copies in one synchronous run read one snapshot of the store: nothing is removed between them
            const plain = binary
              ? encodeBinaryBlocksFrom(batch, (k, out, at) => this.store.copyInto(batch[k]!.cid, out, at))
              : encodeMessage({ t: 'blocks', blocks })
            const message = await packMessage(plain, { compress: this.compress, gate: this.gate(peer) })
            wire = framedLength(message.length)
            // the turn ends once the message is on the stream; waiting for a slow reader to drain it holds up
            // this stream, and the scheduler's slot of the next turn for MESSAGE_TIME_MS at most (see drain)
            sending = out.send(message, signal)
            const sent = batchBytes
            const keys = batch.map(b => cidKey(b.cid))
            const t0 = performance.now()
            sending = sending.then(() => {
              scheduler.observe(wire, performance.now() - t0)
              this.peer(peer).blocksServed += keys.length
              this.ledger.addSent(peer, sent)
              this.flood.sent(peer, keys)
            })
          }
        } finally {
          grant.release(wire)
        }
        if (sending !== undefined) next = (await drain(sending, next, turn)).next
      }
    } finally {
      // a turn asked for and not used goes back
      void next?.then(g => g.release(0), () => {})
    }
    if (!sendBlocks && have.length > 0) await out.send(encodeMessage({ t: 'have', cids: have }))
    if (missing.length > 0) await out.send(encodeMessage({ t: 'dont-have', cids: missing }))
  }

  /** What a request to peer `id` reports back to this service. */
  private requester (id: string): Requester {
    return {
      libp2p: this.libp2p,
      runOnLimitedConnection: this.relayed,
      ignoredCancel: () => { this.flood.strike(id, 'ignored-cancel') },
      protocolError: () => { this.peer(id).score -= 10 }
    }
  }

  /** The channel to peer `id`: one stream its requests share (see BlockChannel). */
  private channel (peerId: Parameters<Libp2p['dialProtocol']>[0], id: string): BlockChannel {
    let c = this.channels.get(id)
    if (c === undefined) {
      const channel = new BlockChannel(this.requester(id), peerId, id, () => { if (this.channels.get(id) === channel) this.channels.delete(id) })
      this.channels.set(id, c = channel)
    }
    return c
  }

  /**
   * A source for the fetcher that asks `peerId`: its requests pipelined on one long-lived stream (BlockChannel); a
   * request the channel cannot take (it already waits for one of the blocks) goes over a stream of its own.
   */
  source (peerId: Parameters<Libp2p['dialProtocol']>[0], id: string): BlockSource {
    return {
      id,
      request: async (cids, options) => {
        const channel = this.channel(peerId, id)
        if (channel.accepts(cids)) return await channel.request(cids, options)
        return await requestBlocks(this.requester(id), peerId, id, cids, options)
      },
      verified: bytes => {
        this.peer(id).bytesReceived += bytes
        this.ledger.addReceived(id, bytes)
      },
      haves: this.askHaves ? async (cids, options) => await askHaves(this.libp2p, peerId, cids, options.signal, this.relayed) : undefined,
      misbehaved: reason => {
        this.peer(id).score -= 100
        this.banned.add(id)
        void this.libp2p.hangUp(peerId as Parameters<Libp2p['hangUp']>[0]).catch(() => {})
        void reason
      }
    }
  }
}
