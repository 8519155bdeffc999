import { isPeerId, type Libp2p, type Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import { AbortError } from '../../errors.js'
import type { Block } from '../../store/interface.js'
import type { BlockAnswer, RequestOptions } from '../fetch/fetch-interface.js'
import { unpackBlocks } from './compression.js'
import { BLOCKS_PROTOCOLS, MAX_ENTRIES, MAX_MESSAGE_BYTES } from './constants.js'
import { framedLength, readFrames, sendFrame } from './framing.js'
import { decodeMessage, encodeMessage, ProtocolError, type Message } from './wire.js'

/**
 * The asking side of the block protocol: a have question and a block request, each over a stream of its own (a
 * block request goes on the peer's long-lived stream instead when it can: BlockChannel, channel.ts). What the
 * answers say of the peer goes back to the block service through a Requester.
 */

/** A have question with no complete answer in this long, or a block request with no frame in this long, is given up (the fetcher asks someone else). */
export const REQUEST_TIMEOUT_MS = 30_000

export type PeerTarget = Parameters<Libp2p['dialProtocol']>[0]
type Dialler = Pick<Libp2p, 'dialProtocol'> & Partial<Pick<Libp2p, 'getConnections'>>

/**
 * A stream of the block protocol to `peer`. Over a relayed connection only when `relayed`: then on a connection
 * already open (a direct one first), since libp2p dials anew for a peer it reaches through a relay alone.
 */
export async function blocksStream (libp2p: Dialler, peer: PeerTarget, signal: AbortSignal, relayed: boolean): Promise<Stream> {
  if (relayed && libp2p.getConnections !== undefined && isPeerId(peer)) {
    const open = libp2p.getConnections(peer).filter(c => c.status === 'open')
    const conn = open.find(c => c.limits == null) ?? open[0]
    if (conn !== undefined) return await conn.newStream(BLOCKS_PROTOCOLS, { signal, runOnLimitedConnection: true })
  }
  return await libp2p.dialProtocol(peer, BLOCKS_PROTOCOLS, { signal, runOnLimitedConnection: relayed })
}

/** What a request needs, and whom it tells of a peer's misbehaviour. */
export interface Requester {
  libp2p: Dialler
  /** Open the request's stream on a limited (relayed) connection too. @default false */
  runOnLimitedConnection?: boolean
  /** Blocks came that were not (or no longer) asked for: the peer ignored a cancel. */
  ignoredCancel: () => void
  /** The peer broke the protocol. */
  protocolError: () => void
}

/** Which of `cids` a peer says it holds (want with blocks: false); over a relayed connection only with `relayed`. */
export async function askHaves (libp2p: Dialler, peerId: PeerTarget, cids: CID[], signal?: AbortSignal, relayed = false): Promise<CID[]> {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
  const stream = await blocksStream(libp2p, peerId, combined, relayed)
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

/** Ask `peerId` (known as `id`) for blocks over a fresh stream; blocks are handed on as they arrive (onBlocks). */
export async function requestBlocks (requester: Requester, peerId: PeerTarget, id: string, cids: CID[], options: RequestOptions): Promise<BlockAnswer> {
  const { libp2p } = requester
  const { signal, onBlocks } = options
  // given up after REQUEST_TIMEOUT_MS without a frame, not after that long in all: a slow uplink shared fairly by
  // many requesters (a seeder's 1 MB/s among fifty) answers each a little at a time, and must not time out all
  const idle = new AbortController()
  let idleTimer: ReturnType<typeof setTimeout> | undefined
  const progress = (): void => {
    clearTimeout(idleTimer)
    idleTimer = setTimeout(() => { idle.abort(new DOMException(`no answer for ${REQUEST_TIMEOUT_MS} ms`, 'TimeoutError')) }, REQUEST_TIMEOUT_MS)
  }
  progress()
  const combined = signal === undefined ? idle.signal : AbortSignal.any([signal, idle.signal])
  const stream = await blocksStream(libp2p, peerId, combined, requester.runOnLimitedConnection ?? false)
  // a cancelled or timed-out request resets its stream at once, which also stops the peer sending
  const onAbort = (): void => { stream.abort(new AbortError('request cancelled')) }
  combined.addEventListener('abort', onAbort, { once: true })
  const blocks: Block[] = []
  const missing: CID[] = []
  const key = cidKey
  const open = new Set(cids.map(key))
  /** Blocks taken back (a racing request brought them): one already on its way is no fault of the sender. */
  const withdrawn = new Set<string>()
  options.onCancel?.(back => {
    const cancel = back.filter(c => open.delete(key(c)))
    if (cancel.length === 0) return
    for (const c of cancel) withdrawn.add(key(c))
    for (let i = 0; i < cancel.length; i += MAX_ENTRIES) void sendFrame(stream, encodeMessage({ t: 'cancel', cids: cancel.slice(i, i + MAX_ENTRIES) })).catch(() => {})
    // all that was left was taken back: no more frames will come, so stop waiting for them
    if (open.size === 0) stream.abort(new AbortError('the rest was taken back'))
  })
  let wireBytes = 0
  try {
    for (let i = 0; i < cids.length; i += MAX_ENTRIES) {
      await sendFrame(stream, encodeMessage({ t: 'want', cids: cids.slice(i, i + MAX_ENTRIES), blocks: true }), combined)
    }
    for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
      progress()
      wireBytes += framedLength(frame.length)
      combined.throwIfAborted()
      let m: Message = decodeMessage(frame)
      if (m.t === 'zblocks') m = await unpackBlocks(m)
      if (m.t === 'blocks') {
        const got: Block[] = []
        let unsolicited = 0
        for (const b of m.blocks) if (open.delete(key(b.cid))) got.push(b); else if (!withdrawn.has(key(b.cid))) unsolicited++
        // blocks we did not ask for (or no longer want): the sender ignores what we told it
        if (unsolicited > 0) requester.ignoredCancel()
        if (onBlocks !== undefined && got.length > 0) {
          // handed on as they arrive; the next message is read once the fetcher has taken them
          await onBlocks(got, wireBytes)
          wireBytes = 0
        } else {
          blocks.push(...got)
        }
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
    if (open.size === 0 && withdrawn.size > 0 && !combined.aborted) return { blocks, missing, wireBytes } // answered, the rest taken back
    if (err instanceof ProtocolError) requester.protocolError()
    throw err
  } finally {
    clearTimeout(idleTimer)
    combined.removeEventListener('abort', onAbort)
  }
}
