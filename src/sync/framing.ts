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

/**
 * Split a byte stream into length-prefixed frames. A prefix announcing more than `maxLength` bytes is refused
 * before anything of the frame is buffered, so a peer cannot make us hold more than one maximal frame.
 */
export async function * readFrames (source: AsyncIterable<Uint8Array | Uint8ArrayList>, maxLength: number): AsyncGenerator<Uint8Array> {
  let buf: Uint8Array = new Uint8Array(0)
  for await (const piece of source) {
    const bytes = piece instanceof Uint8Array ? piece : piece.subarray()
    buf = buf.length === 0 ? bytes : concat(buf, bytes)
    for (;;) {
      let len = 0
      let shift = 0
      let i = 0
      let complete = false
      for (; i < buf.length && i < 5; i++) {
        len += (buf[i]! & 0x7f) * 2 ** shift
        shift += 7
        if ((buf[i]! & 0x80) === 0) { complete = true; i++; break }
      }
      if (!complete) {
        if (buf.length >= 5) throw new ProtocolError('frame length prefix too long')
        break
      }
      if (len > maxLength) throw new ProtocolError(`frame of ${len} bytes exceeds ${maxLength}`)
      if (buf.length - i < len) break
      yield buf.slice(i, i + len)
      buf = buf.subarray(i + len)
    }
  }
  if (buf.length > 0) throw new ProtocolError('stream ended inside a frame')
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
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
