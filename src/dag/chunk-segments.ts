import { DetachedInputError } from '../errors.js'

/** Size of the segments that inputs not from allocReadBuffer are copied into (one worker job each). */
export const SEGMENT_BYTES = 1024 * 1024

/** Buffers from allocReadBuffer not yet handed to the pipeline: these can move to a worker without a copy. */
const handOver = new WeakSet<ArrayBuffer>()

/** A plain Uint8Array over its own ArrayBuffer, not zeroed (whoever fills it exposes only what it wrote). */
const allocRaw = (size: number): Uint8Array => new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size)

/**
 * Allocate a read buffer for `cutAndHash`. Yield each such buffer (or one view of it) to the pipeline once and
 * leave it alone after: the parallel path moves it to a worker and back (detaching it) instead of copying.
 */
export function allocReadBuffer (size: number): Uint8Array {
  const buf = allocRaw(size)
  handOver.add(buf.buffer as ArrayBuffer)
  return buf
}

/**
 * Turns source buffers into segments whose memory the pipeline owns: buffers from allocReadBuffer pass
 * through, anything else (caller memory that must not be detached, small stream pieces) is copied into
 * SEGMENT_BYTES buffers, so a job is never tiny.
 */
export class Segmenter {
  private fill: Uint8Array | undefined
  private filled = 0

  /** Append the segments completed by `input` to `out`. */
  push (input: Uint8Array, out: Uint8Array[]): void {
    const buf = input.buffer
    if ((buf as { detached?: boolean }).detached === true) {
      throw new DetachedInputError('an input buffer was detached: a buffer from allocReadBuffer was yielded twice')
    }
    if (input.length === 0) return
    if (buf instanceof ArrayBuffer && handOver.delete(buf)) {
      this.end(out)
      out.push(input)
      return
    }
    for (let off = 0; off < input.length;) {
      this.fill ??= allocRaw(SEGMENT_BYTES)
      const n = Math.min(input.length - off, SEGMENT_BYTES - this.filled)
      this.fill.set(input.subarray(off, off + n), this.filled)
      this.filled += n
      off += n
      if (this.filled === SEGMENT_BYTES) this.end(out)
    }
  }

  /** Append the partly filled segment, if any, to `out`. */
  end (out: Uint8Array[]): void {
    if (this.fill === undefined || this.filled === 0) return
    out.push(this.fill.subarray(0, this.filled))
    this.fill = undefined
    this.filled = 0
  }
}
