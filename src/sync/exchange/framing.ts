import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'
import { BufferBudgetError } from '../../errors.js'
import type { FrameBudget } from './buffer-budget.js'
import type { FramePool } from './frame-pool.js'
import { FRAME_PIECE_BYTES } from './constants.js'
import { ProtocolError } from './wire.js'

/** The unsigned LEB128 length prefix of a frame of `length` bytes, as libp2p's length-prefixed protocols use. */
export function framePrefix (length: number): Uint8Array {
  const head: number[] = []
  let n = length
  do {
    let byte = n & 0x7f
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    head.push(byte)
  } while (n > 0)
  return Uint8Array.from(head)
}

/** A whole frame in one buffer: the prefix, then a copy of `payload`. */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  const head = framePrefix(payload.length)
  const out = new Uint8Array(head.length + payload.length)
  out.set(head, 0)
  out.set(payload, head.length)
  return out
}

/** Bytes a frame of `payloadLength` takes on the stream: the varint prefix and the payload. */
export function framedLength (payloadLength: number): number {
  let prefix = 1
  for (let n = payloadLength; n >= 128; n = Math.floor(n / 128)) prefix++
  return prefix + payloadLength
}

/**
 * Split a byte stream into length-prefixed frames. A prefix announcing more than `maxLength` bytes is refused
 * before anything of the frame is buffered, so a peer cannot make us hold more than one maximal frame. Pieces
 * are kept as they arrive and copied once, when a whole frame is there (joining on every piece would copy a
 * 1 MiB frame sixteen times over); a small piece kept for a frame not yet complete is copied out of the larger
 * buffer it came in, so it does not pin that buffer.
 *
 * With a `budget`, every byte is charged as it arrives, and FRAME_PIECE_BYTES for each piece it came in (a refused
 * charge ends the stream with BufferBudgetError); a prefix's bytes are given back once read, a piece's overhead
 * once it is used up, a frame's bytes once the consumer asks for the next one (a consumer that keeps a frame longer
 * charges it itself), and whatever is still charged when the stream ends, however it ends.
 *
 * With a `pool`, frames are copied into its buffers (FramePool.take): a frame the pool owns is the consumer's to
 * give back once nothing uses it; one it does not own (too small, too large) is the consumer's like any other.
 */
export async function * readFrames (
  source: AsyncIterable<Uint8Array | Uint8ArrayList> | Iterable<Uint8Array>,
  maxLength: number,
  budget?: FrameBudget,
  pool?: FramePool
): AsyncGenerator<Uint8Array> {
  const pieces: Uint8Array[] = []
  let buffered = 0
  let need = -1 // frame length once its prefix is read
  let charged = 0
  const charge = (n: number): void => {
    if (budget === undefined) return
    if (!budget.reserve(n)) throw new BufferBudgetError(`refused ${n} more bytes of a frame: the buffer budget is spent`)
    charged += n
  }
  const credit = (n: number): void => {
    if (budget === undefined || n <= 0) return
    budget.release(n)
    charged -= n
  }
  /** A kept piece that is a small view into a larger buffer is copied, so it pins only its own bytes. */
  const compact = (i: number): void => {
    const p = pieces[i]
    if (p !== undefined && p.byteLength * 2 < p.buffer.byteLength) pieces[i] = p.slice()
  }
  const take = (n: number, frame: boolean): Uint8Array => {
    const out = frame && pool !== undefined ? pool.take(n) : new Uint8Array(n)
    let filled = 0
    let used = 0 // pieces used up, dropped at once at the end: a shift per piece is quadratic in tiny pieces
    while (filled < n) {
      const head = pieces[used]!
      const k = Math.min(head.length, n - filled)
      out.set(head.subarray(0, k), filled)
      filled += k
      if (k === head.length) used++
      else pieces[used] = head.subarray(k)
    }
    pieces.splice(0, used)
    buffered -= n
    credit(used * FRAME_PIECE_BYTES)
    return out
  }
  /** Read a varint prefix if it is complete: [length, prefix bytes], or undefined. */
  const prefix = (): [number, number] | undefined => {
    let len = 0
    let i = 0
    for (const piece of pieces) {
      for (const byte of piece) {
        len += (byte & 0x7f) * 2 ** (7 * i)
        i++
        if ((byte & 0x80) === 0) return [len, i]
        if (i >= 5) throw new ProtocolError('frame length prefix too long')
      }
    }
    return undefined
  }
  try {
    for await (const piece of source) {
      const length = piece.byteLength
      if (length === 0) continue
      // a list's own chunks are kept, not a joined copy: the source may hold on to its last list until the next
      // one comes (libp2p's stream iterator does), and a copy would double what a stalled stream holds
      const chunks = piece instanceof Uint8Array ? [piece] : [...piece].filter(c => c.byteLength > 0)
      charge(length + chunks.length * FRAME_PIECE_BYTES)
      for (const c of chunks) pieces.push(c)
      const added = chunks.length
      buffered += length
      for (;;) {
        if (need < 0) {
          const p = prefix()
          if (p === undefined) break
          if (p[0] > maxLength) throw new ProtocolError(`frame of ${p[0]} bytes exceeds ${maxLength}`)
          take(p[1], false)
          credit(p[1])
          need = p[0]
        }
        if (buffered < need) break
        const frame = take(need, true)
        need = -1
        yield frame
        credit(frame.length)
      }
      // what is kept waits for more bytes: the first piece may be the rest of a larger one, the others came now
      compact(0)
      for (let i = Math.max(1, pieces.length - added); i < pieces.length; i++) compact(i)
    }
    if (buffered > 0 || need >= 0) throw new ProtocolError('stream ended inside a frame')
  } finally {
    if (budget !== undefined && charged > 0) budget.release(charged)
  }
}

/**
 * Frames sent on one stream, with what waits in its send queue charged to a budget: a frame is charged before it
 * is queued (a refused charge throws BufferBudgetError and nothing is sent), and given back as the queue empties
 * (checked after each send and when the stream reports its queue idle). The owner closes the budget's account when
 * the stream ends, which gives back the rest.
 */
export class SendQueue {
  private queued = 0

  constructor (
    private readonly stream: Pick<Stream,
    'send' | 'writeBufferLength' | 'addEventListener' | 'removeEventListener'>,
    private readonly budget: FrameBudget
  ) {
    stream.addEventListener('idle', this.settle)
  }

  async send (payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    const n = framedLength(payload.length)
    if (!this.budget.reserve(n)) throw new BufferBudgetError(`refused a ${n}-byte frame to send: the buffer budget is spent`)
    this.queued += n
    try {
      await sendFrame(this.stream, payload, signal)
    } finally {
      this.settle()
    }
  }

  /** Give back what has left the send queue (its newest bytes are ours: all sends on the stream come through here). */
  private readonly settle = (): void => {
    const left = Math.min(this.queued, this.stream.writeBufferLength)
    if (left < this.queued) this.budget.release(this.queued - left)
    this.queued = left
  }
}

/** Bytes a stream may have queued for sending before the writer waits. */
const WRITE_HIGH_WATER = 1024 * 1024

/**
 * Send one frame and wait while the stream's send queue is over its high-water mark. libp2p 3's `onDrain()`
 * resolves at once after its first use, so this waits on the stream's own 'drain'/'idle'/'close' events instead.
 */
export async function sendFrame (
  stream: Pick<Stream,
  'send' | 'writeBufferLength' | 'addEventListener' | 'removeEventListener'>,
  payload: Uint8Array,
  signal?: AbortSignal
): Promise<void> {
  // prefix and payload in one send, as a list: joined, a 1 MiB message would be copied to add 3 bytes; sent apart,
  // each prefix is a muxer frame of its own, which the reader answers with a window update of its own
  stream.send(new Uint8ArrayList(framePrefix(payload.length), payload))
  while (stream.writeBufferLength > WRITE_HIGH_WATER) {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stream.removeEventListener('drain', ok)
        stream.removeEventListener('idle', ok)
        stream.removeEventListener('close', closed)
        signal?.removeEventListener('abort', ok)
      }
      const ok = (): void => { done(); resolve() }
      const closed = (evt: Event): void => { done(); reject((evt as Event & { error?: Error }).error ?? new ProtocolError('stream closed while sending')) }
      stream.addEventListener('drain', ok)
      stream.addEventListener('idle', ok)
      stream.addEventListener('close', closed)
      signal?.addEventListener('abort', ok)
    })
  }
}
