import * as dagCbor from '@ipld/dag-cbor'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { MAX_ANNOUNCEMENT_BYTES } from '../../policy/collections/constants.js'
import { readFrames, sendFrame } from '../exchange/framing.js'
import { ProtocolError } from '../exchange/wire.js'

/**
 * /cmesh/collection-heads/1.0.0, anti-entropy: a peer asks `{ topics: [topic...] }` and is answered with one
 * frame `{ topic, announcement: bytes }` per head announcement the other side holds in those collections it
 * has joined too, then the stream ends. The bytes are untrusted: the asker validates each exactly as a gossip
 * message, so no announcement is lost to a missed gossip message and none gets in that gossip would refuse.
 */
export const COLLECTION_HEADS_PROTOCOL = '/cmesh/collection-heads/1.0.0'
const MAX_TOPICS = 64
const MAX_TOPIC_CHARS = 256
const MAX_QUESTION_BYTES = MAX_TOPICS * (MAX_TOPIC_CHARS + 8) + 64
const MAX_FRAME_BYTES = MAX_ANNOUNCEMENT_BYTES + MAX_TOPIC_CHARS + 64
/** Announcements in one answer at most: a peer cannot make us read forever. */
export const MAX_HEADS_PER_ANSWER = 100_000
export const HEADS_ASK_TIMEOUT_MS = 10_000

export interface HeadEntry { topic: string, announcement: Uint8Array }

function decodeQuestion (bytes: Uint8Array): string[] {
  let v: unknown
  try {
    v = dagCbor.decode(bytes)
  } catch (err) {
    throw new ProtocolError(`malformed heads question: ${(err as Error).message}`)
  }
  const q = v as { topics?: unknown }
  if (q === null || typeof q !== 'object' || Object.keys(q).length !== 1 || !Array.isArray(q.topics) || q.topics.length > MAX_TOPICS ||
    !q.topics.every(t => typeof t === 'string' && t.length <= MAX_TOPIC_CHARS)) throw new ProtocolError('heads question must be { topics: [string...] }')
  return q.topics as string[]
}

function decodeEntry (bytes: Uint8Array): HeadEntry {
  let v: unknown
  try {
    v = dagCbor.decode(bytes)
  } catch (err) {
    throw new ProtocolError(`malformed heads answer: ${(err as Error).message}`)
  }
  const e = v as { topic?: unknown, announcement?: unknown }
  if (e === null || typeof e !== 'object' || Object.keys(e).length !== 2 || typeof e.topic !== 'string' || !(e.announcement instanceof Uint8Array)) {
    throw new ProtocolError('heads answer entries must be { topic, announcement }')
  }
  return { topic: e.topic, announcement: e.announcement }
}

export class CollectionHeads {
  constructor (
    private readonly libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>,
    /** The heads this node holds for the topics asked that it has joined. */
    private readonly lookup: (topics: string[]) => HeadEntry[]
  ) {}

  async start (): Promise<void> {
    await this.libp2p.handle(COLLECTION_HEADS_PROTOCOL, async (stream: Stream) => {
      try {
        let topics: string[] | undefined
        for await (const frame of readFrames(stream, MAX_QUESTION_BYTES)) {
          topics = decodeQuestion(frame)
          break
        }
        if (topics === undefined) throw new ProtocolError('stream ended before a heads question')
        for (const e of this.lookup(topics).slice(0, MAX_HEADS_PER_ANSWER)) {
          await sendFrame(stream, dagCbor.encode({ topic: e.topic, announcement: e.announcement }))
        }
        await stream.close()
      } catch (err) {
        stream.abort(err as Error)
      }
    }, { maxInboundStreams: 4 })
  }

  async stop (): Promise<void> {
    await this.libp2p.unhandle(COLLECTION_HEADS_PROTOCOL)
  }

  /** The head announcements `peer` holds in `topics` (those it has joined). */
  async ask (peer: PeerId, topics: string[], signal?: AbortSignal): Promise<HeadEntry[]> {
    const timeout = AbortSignal.timeout(HEADS_ASK_TIMEOUT_MS)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const stream = await this.libp2p.dialProtocol(peer, COLLECTION_HEADS_PROTOCOL, { signal: combined })
    const onAbort = (): void => { stream.abort(new ProtocolError('heads question timed out')) }
    combined.addEventListener('abort', onAbort, { once: true })
    const out: HeadEntry[] = []
    try {
      await sendFrame(stream, dagCbor.encode({ topics: topics.slice(0, MAX_TOPICS) }), combined)
      for await (const frame of readFrames(stream, MAX_FRAME_BYTES)) {
        out.push(decodeEntry(frame))
        if (out.length > MAX_HEADS_PER_ANSWER) throw new ProtocolError(`more than ${MAX_HEADS_PER_ANSWER} heads in one answer`)
      }
      return out
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      combined.removeEventListener('abort', onAbort)
    }
  }
}
