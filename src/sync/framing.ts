import type { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'
import { ProtocolError } from './wire.js'

/** Unsigned LEB128, as libp2p's length-prefixed protocols use. */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  const head: number[] = []
  let n = payload.length
  do {
    let byte = n & 0x7f
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    head.push(byte)
  } while (n > 0)
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
 * 1 MiB frame sixteen times over).
 */
export async function * readFrames (source: AsyncIterable<Uint8Array | Uint8ArrayList> | Iterable<Uint8Array>, maxLength: number): AsyncGenerator<Uint8Array> {
  const pieces: Uint8Array[] = []
  let buffered = 0
  let need = -1 // frame length once its prefix is read
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const head = pieces[0]!
      const k = Math.min(head.length, n - filled)
      out.set(head.subarray(0, k), filled)
      filled += k
      if (k === head.length) pieces.shift()
      else pieces[0] = head.subarray(k)
    }
    buffered -= n
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
  for await (const piece of source) {
    const bytes = piece instanceof Uint8Array ? piece : piece.subarray()
    if (bytes.length === 0) continue
    pieces.push(bytes)
    buffered += bytes.length
    for (;;) {
      if (need < 0) {
        const p = prefix()
        if (p === undefined) break
        if (p[0] > maxLength) throw new ProtocolError(`frame of ${p[0]} bytes exceeds ${maxLength}`)
        take(p[1])
        need = p[0]
      }
      if (buffered < need) break
      yield take(need)
      need = -1
    }
  }
  if (buffered > 0 || need >= 0) throw new ProtocolError('stream ended inside a frame')
}

/** Bytes a stream may have queued for sending before the writer waits. */
const WRITE_HIGH_WATER = 1024 * 1024

/**
 * Send one frame and wait while the stream's send queue is over its high-water mark. libp2p 3's `onDrain()`
 * resolves at once after its first use, so this waits on the stream's own 'drain'/'idle'/'close' events instead.
 */
export async function sendFrame (stream: Pick<Stream, 'send' | 'writeBufferLength' | 'addEventListener' | 'removeEventListener'>, payload: Uint8Array, signal?: AbortSignal): Promise<void> {
  stream.send(encodeFrame(payload))
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
