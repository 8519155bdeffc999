import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { setTimeout as sleep } from 'node:timers/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { cidKey } from '../dag/cid.js'
import { AbortError } from '../errors.js'
import { TokenBucket } from '../policy/token-bucket.js'
import type { Block, Blockstore } from '../store/interface.js'
import { compress, packBlocks, unpackBlocks } from './compression.js'
import { BLOCKS_PROTOCOL, DEFAULT_COMPRESS, MAX_ENTRIES, MAX_MESSAGE_BYTES, MESSAGE_TARGET_BYTES } from './constants.js'
import type { BlockAnswer, BlockSource } from './fetcher.js'
import { framedLength, readFrames, sendFrame } from './framing.js'
import { decodeMessage, encodeMessage, ProtocolError, type Message } from './wire.js'

/** Concurrent block-exchange streams a peer may open to us, per connection. */
const MAX_INBOUND_STREAMS = 16
/** A request that gets no complete answer in this long is given up (the fetcher asks someone else). */
const REQUEST_TIMEOUT_MS = 30_000

/**
 * Misbehaviour for the simulation harness (src/sync/simulation.ts): never set on a real node.
 */
export interface SimulatedFaults {
  /** Added delay before each answer, in ms. */
  latencyMs?: number
  /** Flip a byte in every block sent. */
  corrupt?: boolean
  /** Claim every block in answer to a have question, then send don't-haves for what is missing. */
  lieAboutHaves?: boolean
  /** Hang up on the requester after this many answers (then again after as many more). */
  disconnectEvery?: number
  /** Send every batch as a zblocks whose payload inflates far beyond its declared size. */
  compressionBomb?: boolean
}

export interface BlockServiceOptions {
  /** Misbehave on purpose (simulation harness only). @default none */
  simulate?: SimulatedFaults
  /** Peers that sent bad blocks are added here; the node's connection gater refuses them from then on. */
  banned?: Set<string>
  /** Bytes a second this node uploads at most, over all peers. @default unlimited */
  uploadLimit?: number
  /**
   * Ask peers which blocks they hold so the rarest go first. Off by default: in bench:swarm (eight full
   * seeders) it cut the speedup from 6.8x to 4.6x, for a reason not yet found. @default false
   */
  rarestFirst?: boolean
  /** Send blocks compressed when that saves at least 10 % (see src/sync/compression.ts). @default true */
  compress?: boolean
}

export interface PeerStats {
  /** Blocks we served to this peer. */
  blocksServed: number
  /** Verified bytes we received from this peer. */
  bytesReceived: number
  /** Down for every bad block or protocol violation. */
  score: number
}

/**
 * The /cmesh/blocks/1.0.0 protocol on a libp2p node: answers wants from the store (blocks batched into
 * messages of about 1 MiB, compressed when that pays, don't-haves for the rest) and asks peers for blocks,
 * counting the bytes each answer took on the stream. Every message is decoded strictly and a compressed one is
 * inflated only up to its declared size; a peer that breaks the protocol has its stream aborted and is scored down.
 */
export class BlockService {
  readonly stats = new Map<string, PeerStats>()
  private readonly libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'hangUp'>
  private readonly store: Pick<Blockstore, 'has' | 'getSync'>

  private readonly upload: TokenBucket | undefined
  private readonly askHaves: boolean
  private readonly compress: boolean
  readonly banned: Set<string>
  private readonly faults: SimulatedFaults
  private answers = 0

  constructor (components: { libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'hangUp'>, store: Pick<Blockstore, 'has' | 'getSync'> }, init: BlockServiceOptions = {}) {
    this.libp2p = components.libp2p
    this.store = components.store
    this.upload = init.uploadLimit === undefined ? undefined : new TokenBucket(init.uploadLimit)
    this.askHaves = init.rarestFirst ?? false
    this.compress = init.compress ?? DEFAULT_COMPRESS
    this.banned = init.banned ?? new Set()
    this.faults = init.simulate ?? {}
  }

  peer (id: string): PeerStats {
    let s = this.stats.get(id)
    if (s === undefined) this.stats.set(id, s = { blocksServed: 0, bytesReceived: 0, score: 0 })
    return s
  }

  async start (): Promise<void> {
    await this.libp2p.handle(BLOCKS_PROTOCOL, async (stream: Stream, connection: Connection) => {
      await this.serve(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    await this.libp2p.unhandle(BLOCKS_PROTOCOL)
  }

  private async serve (stream: Stream, peer: string): Promise<void> {
    // a requester that resets the stream (a cancelled request) also stops our upload-limit wait
    const gone = new AbortController()
    stream.addEventListener('close', () => { gone.abort() }, { once: true })
    try {
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
        const m = decodeMessage(frame)
        if (m.t === 'cancel') continue // wants are answered at once, so there is nothing left to cancel
        if (m.t !== 'want') throw new ProtocolError(`unexpected ${m.t} message from a requester`)
        if (this.faults.latencyMs !== undefined) await sleep(this.faults.latencyMs, undefined, { signal: gone.signal })
        await this.answer(stream, peer, m.cids, m.blocks, gone.signal)
        const every = this.faults.disconnectEvery
        if (every !== undefined && ++this.answers % every === 0) await this.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
      }
      await stream.close()
    } catch (err) {
      // a broken protocol costs the peer; a reset stream (a cancelled request) does not
      if (err instanceof ProtocolError) this.peer(peer).score -= 10
      stream.abort(err as Error)
    }
  }

  private async answer (stream: Stream, peer: string, cids: CID[], sendBlocks: boolean, signal: AbortSignal): Promise<void> {
    const missing: CID[] = []
    const have: CID[] = []
    let batch: Block[] = []
    let batchBytes = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      const message = this.faults.compressionBomb === true ? await bomb(batch) : await packBlocks(batch, { compress: this.compress })
      await this.upload?.take(message.length, signal)
      await sendFrame(stream, message, signal)
      this.peer(peer).blocksServed += batch.length
      batch = []
      batchBytes = 0
    }
    for (const cid of cids) {
      if (!sendBlocks && this.faults.lieAboutHaves === true) {
        have.push(cid)
      } else if (!await this.store.has(cid)) {
        missing.push(cid)
      } else if (!sendBlocks) {
        have.push(cid)
      } else {
        let bytes = this.store.getSync(cid)
        if (this.faults.corrupt === true && bytes.length > 0) {
          bytes = Uint8Array.from(bytes)
          bytes[0] = bytes[0]! ^ 0xff
        }
        if (batchBytes + bytes.length > MESSAGE_TARGET_BYTES || batch.length >= MAX_ENTRIES) await flush()
        batch.push({ cid, bytes })
        batchBytes += bytes.length
      }
    }
    await flush()
    if (have.length > 0) await sendFrame(stream, encodeMessage({ t: 'have', cids: have }))
    if (missing.length > 0) await sendFrame(stream, encodeMessage({ t: 'dont-have', cids: missing }))
  }

  /** A source for the fetcher that asks `peerId` over a fresh stream per request. */
  source (peerId: Parameters<Libp2p['dialProtocol']>[0], id: string): BlockSource {
    return {
      id,
      request: async (cids, options) => await this.request(peerId, id, cids, options.signal),
      haves: this.askHaves ? async (cids, options) => await this.haves(peerId, cids, options.signal) : undefined,
      misbehaved: reason => {
        this.peer(id).score -= 100
        this.banned.add(id)
        void this.libp2p.hangUp(peerId as Parameters<Libp2p['hangUp']>[0]).catch(() => {})
        void reason
      }
    }
  }

  /** Which of `cids` a peer says it holds (want with blocks: false). */
  private async haves (peerId: Parameters<Libp2p['dialProtocol']>[0], cids: CID[], signal?: AbortSignal): Promise<CID[]> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const stream = await this.libp2p.dialProtocol(peerId, BLOCKS_PROTOCOL, { signal: combined })
    const open = new Set(cids.map(cidKey))
    const have: CID[] = []
    try {
      for (let i = 0; i < cids.length; i += MAX_ENTRIES) {
        await sendFrame(stream, encodeMessage({ t: 'want', cids: cids.slice(i, i + MAX_ENTRIES), blocks: false }), combined)
      }
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
        const m = decodeMessage(frame)
        if (m.t !== 'have' && m.t !== 'dont-have') throw new ProtocolError(`unexpected ${m.t} message in answer to a have question`)
        for (const c of m.cids) if (open.delete(cidKey(c)) && m.t === 'have') have.push(c)
        if (open.size === 0) break
      }
      await stream.close()
      return have
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  private async request (peerId: Parameters<Libp2p['dialProtocol']>[0], id: string, cids: CID[], signal?: AbortSignal): Promise<BlockAnswer> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const stream = await this.libp2p.dialProtocol(peerId, BLOCKS_PROTOCOL, { signal: combined })
    // a cancelled or timed-out request resets its stream at once, which also stops the peer sending
    const onAbort = (): void => { stream.abort(new AbortError('request cancelled')) }
    combined.addEventListener('abort', onAbort, { once: true })
    const blocks: Block[] = []
    const missing: CID[] = []
    const key = cidKey
    const open = new Set(cids.map(key))
    let wireBytes = 0
    try {
      for (let i = 0; i < cids.length; i += MAX_ENTRIES) {
        await sendFrame(stream, encodeMessage({ t: 'want', cids: cids.slice(i, i + MAX_ENTRIES), blocks: true }), combined)
      }
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
        wireBytes += framedLength(frame.length)
        combined.throwIfAborted()
        let m: Message = decodeMessage(frame)
        if (m.t === 'zblocks') m = await unpackBlocks(m)
        if (m.t === 'blocks') {
          for (const b of m.blocks) if (open.delete(key(b.cid))) blocks.push(b)
        } else if (m.t === 'dont-have') {
          for (const c of m.cids) if (open.delete(key(c))) missing.push(c)
        } else {
          throw new ProtocolError(`unexpected ${m.t} message from a server`)
        }
        if (open.size === 0) break
      }
      combined.throwIfAborted()
      if (open.size > 0) throw new ProtocolError(`peer ${id} left ${open.size} wanted blocks unanswered`)
      await stream.close()
      return { blocks, missing, wireBytes }
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof ProtocolError) this.peer(id).score -= 10
      throw err
    } finally {
      combined.removeEventListener('abort', onAbort)
    }
  }
}

/** A zblocks message for `blocks` that inflates a few MiB past its declared size (the compressionBomb fault). */
async function bomb (blocks: Block[]): Promise<Uint8Array> {
  const plain = encodeMessage({ t: 'blocks', blocks })
  const inflated = new Uint8Array(plain.length + MAX_MESSAGE_BYTES)
  inflated.set(plain)
  return encodeMessage({ t: 'zblocks', alg: 'br', size: plain.length, data: await compress('br', inflated) })
}
