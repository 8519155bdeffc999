import type { Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import { CODEC_RAW } from '../../dag/constants.js'
import { AbortError } from '../../errors.js'
import type { Block } from '../../store/interface.js'
import type { BlockAnswer, RequestOptions } from '../fetch/fetch-interface.js'
import { unpackBlocks } from './compression.js'
import {
  CHANNEL_IDLE_MS,
  FRAME_POOL_BUFFER_BYTES,
  FRAME_POOL_MAX_FREE,
  FRAME_POOL_MIN_BYTES,
  MAX_CHANNEL_HANDOFF_BYTES,
  MAX_CHANNEL_REQUESTS,
  MAX_CHANNEL_WITHDRAWN,
  MAX_ENTRIES,
  MAX_MESSAGE_BYTES
} from './constants.js'
import { FrameLoan, FramePool } from './frame-pool.js'
import { framedLength, readFrames, sendFrame } from './framing.js'
import { blocksStream, REQUEST_TIMEOUT_MS, type PeerTarget, type Requester } from './peer-requests.js'
import { decodeMessage, encodeMessage, isBinaryBlocks, ProtocolError, type Message } from './wire.js'

/** The buffers every channel of this process reads its blocks messages into (bounded: FRAME_POOL_MAX_FREE kept). */
const framePool = new FramePool(FRAME_POOL_BUFFER_BYTES, FRAME_POOL_MIN_BYTES, FRAME_POOL_MAX_FREE)

/** A block with bytes of its own, for one whose bytes are a view of a pooled frame (its CID is a copy already). */
function copyBlock (b: Block): Block {
  return { cid: b.cid, bytes: b.bytes.slice() }
}

/** A block request on the channel: what it still waits for, and what it has been sent. */
interface Pending {
  /** What it still waits for, by CID key. */
  open: Map<string, CID>
  blocks: Block[]
  missing: CID[]
  wireBytes: number
  onBlocks: RequestOptions['onBlocks']
  onProgress: RequestOptions['onProgress']
  /** Its onBlocks calls, one after another (a request's messages are handed on in order). */
  chain: Promise<void>
  /** What its onBlocks threw: the request fails with it. */
  failure?: Error
  resolve: (answer: BlockAnswer) => void
  reject: (err: Error) => void
  /** Stops listening to the request's signal. */
  unlisten: () => void
}

/**
 * One long-lived block stream to a peer, on which block requests are pipelined: each request sends its want on
 * the stream the earlier ones use, instead of opening a stream of its own (a yamux stream, a multistream
 * negotiation and its small TLS records per request, and on the serving side a stream handler's setup). A server
 * answers a stream's wants in order (BlockService.serve, every version of the protocol), each want's answer being
 * its blocks and a dont-have for what it lacks; the answers are told apart by CID, which one channel never has
 * two requests wait for at once (a request that would is sent on a stream of its own instead).
 *
 * A cancelled request (its signal aborted) sends a cancel for what it still waits for and settles at once; the
 * stream goes on. Blocks of a cancelled request that were already on their way are dropped when they come, without
 * counting against the peer; other blocks nobody asked for count as an ignored cancel. Each blocks message tells
 * the requests still waiting their turn that the peer is answering (RequestOptions.onProgress): waiting behind
 * others is not a stall. A stream that breaks (a
 * protocol error, a reset, no frame for REQUEST_TIMEOUT_MS while requests wait) fails every request on it, and
 * the next request opens a new one. A stream with no request for CHANNEL_IDLE_MS is closed.
 */
export class BlockChannel {
  private stream: Promise<Stream> | undefined
  /** The request waiting for each block, by CID key. */
  private readonly owner = new Map<string, Pending>()
  private readonly pending = new Set<Pending>()
  /** Keys of blocks taken back from requests (a cancel): if they come anyway, the peer is not at fault. */
  private readonly withdrawn = new Set<string>()
  /** Wire bytes of messages that carried no block still wanted: counted with the next answer. */
  private unclaimedWire = 0
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  private silenceTimer: ReturnType<typeof setTimeout> | undefined

  constructor (
    private readonly requester: Requester,
    private readonly peer: PeerTarget,
    private readonly id: string,
    /** Called when the channel closes its stream for want of requests (the owner may forget it). */
    private readonly onIdle?: () => void
  ) {}

  /** Requests waiting for their answers on this channel. */
  get size (): number {
    return this.pending.size
  }

  /**
   * Whether `cids` can go on the channel: it is open, has room for another request, and waits for none of them
   * (two requests for one block on one stream could not tell whose it is).
   */
  accepts (cids: CID[]): boolean {
    if (this.pending.size >= MAX_CHANNEL_REQUESTS || cids.length > MAX_ENTRIES) return false
    for (const c of cids) if (this.owner.has(cidKey(c))) return false
    return true
  }

  /** Ask for `cids` on the channel's stream (opened first if there is none); see BlockSource.request. */
  async request (cids: CID[], options: RequestOptions): Promise<BlockAnswer> {
    const { signal, onBlocks } = options
    signal?.throwIfAborted()
    if (!this.accepts(cids)) throw new ProtocolError('the channel cannot take this request') // callers check accepts()
    clearTimeout(this.idleTimer)
    const open = new Map(cids.map(c => [cidKey(c), c]))
    let pending!: Pending
    const answer = new Promise<BlockAnswer>((resolve, reject) => {
      pending = {
        open, blocks: [], missing: [], wireBytes: 0, onBlocks, onProgress: options.onProgress, chain: Promise.resolve(), resolve, reject, unlisten: () => {}
      }
    })
    answer.catch(() => {}) // it may fail while the want is still being sent; it is awaited below
    for (const k of open.keys()) this.owner.set(k, pending)
    this.pending.add(pending)
    if (this.pending.size === 1) this.listen()
    if (signal !== undefined) {
      const onAbort = (): void => { this.withdraw(pending, [...pending.open.keys()], signal.reason as Error ?? new AbortError('request cancelled'), true) }
      signal.addEventListener('abort', onAbort, { once: true })
      pending.unlisten = () => { signal.removeEventListener('abort', onAbort) }
    }
    options.onCancel?.(back => {
      const keys = back.map(cidKey).filter(k => pending.open.has(k))
      if (keys.length > 0) this.withdraw(pending, keys)
    })
    try {
      const stream = await this.open()
      // what was taken back while the stream opened is not asked for
      const want = [...open.values()]
      if (want.length > 0) await sendFrame(stream, encodeMessage({ t: 'want', cids: want, blocks: true }), signal)
    } catch (err) {
      this.settle(pending, err as Error)
    }
    return await answer
  }

  /** Take `keys` back from `p`: a cancel goes to the peer; `p` settles (with `error`, if given) once nothing is open. */
  private withdraw (p: Pending, keys: string[], error?: Error, all = false): void {
    if (!this.pending.has(p)) return
    const cids: CID[] = []
    for (const k of keys) {
      const c = p.open.get(k)
      if (c === undefined) continue
      p.open.delete(k)
      this.owner.delete(k)
      this.remember(k)
      cids.push(c)
    }
    if (cids.length > 0 && this.stream !== undefined) {
      const stream = this.stream
      void stream.then(async s => {
        for (let i = 0; i < cids.length; i += MAX_ENTRIES) await sendFrame(s, encodeMessage({ t: 'cancel', cids: cids.slice(i, i + MAX_ENTRIES) }))
      }).catch(() => {})
    }
    if (all || p.open.size === 0) this.settle(p, error)
  }

  private remember (key: string): void {
    this.withdrawn.add(key)
    if (this.withdrawn.size > MAX_CHANNEL_WITHDRAWN) this.withdrawn.delete(this.withdrawn.values().next().value!)
  }

  /** `p` is done: answered (no error) or failed; it settles once the blocks handed on have been taken. */
  private settle (p: Pending, error?: Error): void {
    if (!this.pending.delete(p)) return
    p.unlisten()
    for (const k of p.open.keys()) {
      this.owner.delete(k)
      if (error !== undefined) this.remember(k)
    }
    void p.chain.then(() => {
      const failure = error ?? p.failure
      if (failure !== undefined) p.reject(failure)
      else p.resolve({ blocks: p.blocks, missing: p.missing, wireBytes: p.wireBytes })
    })
    if (this.pending.size === 0) this.quiet()
  }

  /** Start the silence timer: requests wait, and frames must come. */
  private listen (): void {
    clearTimeout(this.silenceTimer)
    this.silenceTimer = setTimeout(() => {
      this.fail(new DOMException(`no answer for ${REQUEST_TIMEOUT_MS} ms`, 'TimeoutError'))
    }, REQUEST_TIMEOUT_MS)
  }

  /** No request waits: no silence timer, and the stream is closed if none comes for CHANNEL_IDLE_MS. */
  private quiet (): void {
    clearTimeout(this.silenceTimer)
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      this.close()
      this.onIdle?.()
    }, CHANNEL_IDLE_MS)
    this.idleTimer.unref?.()
  }

  private async open (): Promise<Stream> {
    if (this.stream === undefined) {
      const opening = blocksStream(this.requester.libp2p, this.peer, AbortSignal.timeout(REQUEST_TIMEOUT_MS), this.requester.runOnLimitedConnection ?? false)
      this.stream = opening
      opening.then(s => { void this.read(s, opening) }, err => { if (this.stream === opening) this.fail(err as Error) })
    }
    return await this.stream
  }

  /** Read answers until the stream ends; the stream is this channel's while `opening` is its stream. */
  private async read (stream: Stream, opening: Promise<Stream>): Promise<void> {
    let error: Error | undefined
    try {
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES, undefined, framePool)) {
        if (this.pending.size > 0) this.listen()
        const loan = framePool.owns(frame) ? new FrameLoan(framePool, frame) : undefined
        try {
          let m: Message = decodeMessage(frame)
          if (m.t === 'zblocks') m = await unpackBlocks(m)
          // only a binary message's blocks are views of the frame (its raw leaves are lent on, its CIDs are copies):
          // DAG-CBOR decoding (a 1.0.0 peer's blocks) copies what it reads, and a zblocks' blocks are views of what
          // it inflated to
          const lent = loan !== undefined && m.t === 'blocks' && isBinaryBlocks(frame) ? loan : undefined
          await this.take(m, framedLength(frame.length), lent)
        } finally {
          loan?.end()
        }
      }
      if (this.pending.size > 0) error = new ProtocolError(`peer ${this.id} left ${this.owner.size} wanted blocks unanswered`)
    } catch (err) {
      error = err as Error
      if (err instanceof ProtocolError) this.requester.protocolError()
    }
    if (this.stream !== opening) return
    if (error !== undefined) this.fail(error)
    else this.stream = undefined
  }

  /**
   * An answer message: its blocks and dont-haves go to the requests waiting for them. With a `loan`, the blocks'
   * bytes are views into a pooled frame: raw leaves are lent to onBlocks (which uses them only until it settles),
   * anything kept longer is copied.
   */
  private async take (m: Message, wire: number, loan?: FrameLoan): Promise<void> {
    if (m.t === 'dont-have') {
      this.unclaimedWire += wire
      const done = new Set<Pending>()
      for (const c of m.cids) {
        const k = cidKey(c)
        const p = this.owner.get(k)
        if (p === undefined) continue
        this.owner.delete(k)
        p.open.delete(k)
        p.missing.push(c)
        if (p.open.size === 0) done.add(p)
      }
      for (const p of done) {
        p.wireBytes += this.unclaimedWire
        this.unclaimedWire = 0
        this.settle(p)
      }
      return
    }
    if (m.t !== 'blocks') throw new ProtocolError(`unexpected ${m.t} message from a server`)
    const got = new Map<Pending, Block[]>()
    let unsolicited = 0
    for (const b of m.blocks) {
      const k = cidKey(b.cid)
      const p = this.owner.get(k)
      if (p === undefined) {
        if (!this.withdrawn.has(k)) unsolicited++
        continue
      }
      this.owner.delete(k)
      p.open.delete(k)
      let list = got.get(p)
      if (list === undefined) got.set(p, list = [])
      // an interior node is decoded and its links kept (views into it): it gets bytes of its own
      list.push(loan !== undefined && (b.cid.code !== CODEC_RAW || p.onBlocks === undefined) ? copyBlock(b) : b)
    }
    // blocks we did not ask for (or no longer want): the sender ignores what we told it
    if (unsolicited > 0) this.requester.ignoredCancel()
    let wireBytes = this.unclaimedWire + wire
    this.unclaimedWire = 0
    if (got.size === 0) {
      this.unclaimedWire = wireBytes
      return
    }
    for (const [p, blocks] of got) {
      if (p.onBlocks !== undefined) this.handOn(p, blocks, wireBytes, loan?.hold())
      else {
        p.blocks.push(...blocks)
        p.wireBytes += wireBytes
      }
      wireBytes = 0
      if (p.open.size === 0) this.settle(p)
    }
    // the requests still waiting their turn behind these are not stalled: the peer is answering the ones before
    for (const p of this.pending) if (!got.has(p)) p.onProgress?.()
    // the next message is read while the fetcher verifies and stores these, up to MAX_CHANNEL_HANDOFF_BYTES
    while (this.handing > MAX_CHANNEL_HANDOFF_BYTES) await Promise.race(this.handoffs)
  }

  /** Bytes of blocks handed to requests' onBlocks and not yet taken. */
  private handing = 0
  private readonly handoffs = new Set<Promise<void>>()

  /**
   * Hand `blocks` to `p`'s onBlocks after its earlier ones; what it throws fails `p` (the stream goes on). `release`
   * lets go of the pooled frame the blocks are views into, once onBlocks has settled (or was not called).
   */
  private handOn (p: Pending, blocks: Block[], wireBytes: number, release?: () => void): void {
    let bytes = 0
    for (const b of blocks) bytes += b.bytes.length
    this.handing += bytes
    const step = p.chain.then(async () => {
      if (p.failure === undefined) await p.onBlocks!(blocks, wireBytes)
    }).catch((err: Error) => {
      p.failure ??= err
      // what it still waits for is taken back
      this.withdraw(p, [...p.open.keys()], err, true)
    }).finally(() => {
      release?.()
      this.handing -= bytes
      this.handoffs.delete(step)
    })
    p.chain = step
    this.handoffs.add(step)
  }

  /** The stream broke: every request on it fails, and the next one opens a new stream. */
  private fail (error: Error): void {
    const stream = this.stream
    this.stream = undefined
    clearTimeout(this.silenceTimer)
    void stream?.then(s => { s.abort(error) }, () => {})
    for (const p of [...this.pending]) this.settle(p, error)
  }

  /** Close the stream (its requests fail); a later request opens another. */
  close (): void {
    clearTimeout(this.idleTimer)
    if (this.pending.size > 0) {
      this.fail(new AbortError('block channel closed'))
      return
    }
    const stream = this.stream
    this.stream = undefined
    void stream?.then(async s => { await s.close() }).catch(() => {})
  }
}
