import { DetachedInputError } from '../../errors.js'

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
  const reuse = spare.length > 0 && spare[spare.length - 1]!.byteLength === size ? spare.pop() : undefined
  const buf = reuse !== undefined ? new Uint8Array(reuse) : allocRaw(size)
  handOver.add(buf.buffer as ArrayBuffer)
  return buf
}

/** Read buffers given back by recycleReadBuffer, for allocReadBuffer to hand out again. */
const spare: ArrayBuffer[] = []
/** Spare buffers kept at most (read buffers in use by one import are about 50). */
const SPARE_MAX = 64

/**
 * Give back a read buffer (after its round trip through a worker, a new ArrayBuffer) once no view of it is
 * used any more: its chunks are committed to the store. Without this every buffer waits for V8 to collect
 * it, and tens of MB of dead buffers stay resident between collections.
 */
export function recycleReadBuffer (buf: ArrayBuffer): void {
  if ((buf as { detached?: boolean }).detached === true || spare.includes(buf)) return
  if (spare.length < SPARE_MAX) spare.push(buf)
  else release(buf)
}

/** Free the spare read buffers now (an import has ended), rather than whenever V8 next collects. */
export function dropSpareReadBuffers (): void {
  for (const buf of spare.splice(0)) release(buf)
}

/** Free a buffer's memory at once: detached (transferred to an empty buffer), it gives its memory back. */
function release (buf: ArrayBuffer): void {
  (buf as ArrayBuffer & { transfer: (length: number) => ArrayBuffer }).transfer(0)
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
