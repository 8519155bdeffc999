import { createHash } from 'node:crypto'
import { InvalidOptionError } from '../../errors.js'
import { DEFAULT_AVG_CHUNK, DEFAULT_MAX_CHUNK, DEFAULT_MIN_CHUNK, DEFAULT_NORMALIZATION, MAX_BLOCK_SIZE } from '../constants.js'

export interface ChunkerOptions {
  /** Smallest chunk except the last of a stream. @default DEFAULT_MIN_CHUNK (1 KiB) */
  minSize?: number
  /** Target average chunk size; must be a power of two. @default DEFAULT_AVG_CHUNK (2 KiB) */
  avgSize?: number
  /** Largest chunk; at most 1 MiB. @default DEFAULT_MAX_CHUNK (16 KiB) */
  maxSize?: number
  /** FastCDC normalization level (0-3). @default DEFAULT_NORMALIZATION (2) */
  normalization?: number
}

/**
 * The gear table is part of the on-disk format: it decides chunk boundaries and so every CID.
 * Entry i is the first four bytes of SHA-256 over the single byte i, so anyone can recompute it.
 */
export const GEAR: Int32Array = (() => {
  const table = new Int32Array(256)
  for (let i = 0; i < 256; i++) {
    table[i] = createHash('sha256').update(Uint8Array.of(i)).digest().readInt32BE(0)
  }
  return table
})()

/** A mask of `bits` one-bits at the top of a 32-bit word: the top bits of the gear hash see the last 32 bytes. */
function topMask (bits: number): number {
  return bits <= 0 ? 0 : (~0 << (32 - bits)) | 0
}

/**
 * FastCDC content-defined chunking (Xia et al., 2016) with normalized chunking: a gear rolling hash,
 * cut-point skipping below `minSize`, a stricter mask before `avgSize` and a looser one after it.
 */
export class FastCdc {
  readonly minSize: number
  readonly avgSize: number
  readonly maxSize: number
  private readonly maskS: number
  private readonly maskL: number

  constructor (init: ChunkerOptions = {}) {
    const minSize = init.minSize ?? DEFAULT_MIN_CHUNK
    const avgSize = init.avgSize ?? DEFAULT_AVG_CHUNK
    const maxSize = init.maxSize ?? DEFAULT_MAX_CHUNK
    const level = init.normalization ?? DEFAULT_NORMALIZATION
    for (const [name, v] of [['minSize', minSize], ['avgSize', avgSize], ['maxSize', maxSize], ['normalization', level]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new InvalidOptionError(`chunker ${name} must be a non-negative integer, got ${v}`)
    }
    if (minSize < 64) throw new InvalidOptionError(`chunker minSize must be at least 64 bytes, got ${minSize}`)
    if ((avgSize & (avgSize - 1)) !== 0) throw new InvalidOptionError(`chunker avgSize must be a power of two, got ${avgSize}`)
    if (!(minSize <= avgSize && avgSize <= maxSize)) throw new InvalidOptionError(`chunker sizes must satisfy min <= avg <= max, got ${minSize}/${avgSize}/${maxSize}`)
    if (maxSize > MAX_BLOCK_SIZE) throw new InvalidOptionError(`chunker maxSize must be at most ${MAX_BLOCK_SIZE}, got ${maxSize}`)
    if (level > 3) throw new InvalidOptionError(`chunker normalization must be 0-3, got ${level}`)
    const bits = Math.log2(avgSize)
    this.minSize = minSize
    this.avgSize = avgSize
    this.maxSize = maxSize
    this.maskS = topMask(bits + level)
    this.maskL = topMask(bits - level)
  }

  /**
   * Length of the chunk that starts at `start`, looking at most at `buf[start..end)`.
   * When fewer than `maxSize` bytes remain and more input may follow, the caller must wait for more.
   */
  cut (buf: Uint8Array, start: number, end: number): number {
    let n = end - start
    if (n <= this.minSize) return n
    if (n > this.maxSize) n = this.maxSize
    const normal = n < this.avgSize ? n : this.avgSize
    const gear = GEAR
    const maskS = this.maskS
    const maskL = this.maskL
    let h = 0
    let i = start + this.minSize
    const stopS = start + normal
    const stopL = start + n
    // unrolled by four: the same cuts as one byte a step, about 1.5x faster in V8
    for (; i + 4 <= stopS; i += 4) {
      h = ((h << 1) + gear[buf[i]!]!) | 0; if ((h & maskS) === 0) return i - start + 1
      h = ((h << 1) + gear[buf[i + 1]!]!) | 0; if ((h & maskS) === 0) return i - start + 2
      h = ((h << 1) + gear[buf[i + 2]!]!) | 0; if ((h & maskS) === 0) return i - start + 3
      h = ((h << 1) + gear[buf[i + 3]!]!) | 0; if ((h & maskS) === 0) return i - start + 4
    }
    for (; i < stopS; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0
      if ((h & maskS) === 0) return i - start + 1
    }
    for (; i + 4 <= stopL; i += 4) {
      h = ((h << 1) + gear[buf[i]!]!) | 0; if ((h & maskL) === 0) return i - start + 1
      h = ((h << 1) + gear[buf[i + 1]!]!) | 0; if ((h & maskL) === 0) return i - start + 2
      h = ((h << 1) + gear[buf[i + 2]!]!) | 0; if ((h & maskL) === 0) return i - start + 3
      h = ((h << 1) + gear[buf[i + 3]!]!) | 0; if ((h & maskL) === 0) return i - start + 4
    }
    for (; i < stopL; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0
      if ((h & maskL) === 0) return i - start + 1
    }
    return n
  }
}

/** Cut all of `bytes` into chunks; returns the chunks as views of `bytes`. */
export function chunkBytes (bytes: Uint8Array, options: ChunkerOptions = {}): Uint8Array[] {
  const cdc = new FastCdc(options)
  const out: Uint8Array[] = []
  let pos = 0
  while (pos < bytes.length) {
    const len = cdc.cut(bytes, pos, bytes.length)
    out.push(bytes.subarray(pos, pos + len))
    pos += len
  }
  return out
}

/**
 * Cut a stream into chunks, one array of chunks per input buffer. Chunks are views of the input buffers, or of
 * a joined buffer from `alloc` where a chunk spans two inputs, so the source must not reuse a buffer after
 * yielding it. Memory held: at most one input plus one `maxSize` remainder.
 */
export async function * chunkBatches (
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ChunkerOptions = {},
  alloc: (size: number) => Uint8Array = size => new Uint8Array(size)
): AsyncGenerator<Uint8Array[]> {
  const cdc = new FastCdc(options)
  let rest: Uint8Array = new Uint8Array(0)
  for await (const input of source) {
    if (input.length === 0) continue
    let buf: Uint8Array
    if (rest.length === 0) {
      buf = input
    } else {
      buf = alloc(rest.length + input.length)
      buf.set(rest, 0)
      buf.set(input, rest.length)
    }
    const batch: Uint8Array[] = []
    let pos = 0
    while (buf.length - pos >= cdc.maxSize) {
      const len = cdc.cut(buf, pos, buf.length)
      batch.push(buf.subarray(pos, pos + len))
      pos += len
    }
    if (batch.length > 0) yield batch
    rest = buf.subarray(pos)
  }
  const batch: Uint8Array[] = []
  let pos = 0
  while (pos < rest.length) {
    const len = cdc.cut(rest, pos, rest.length)
    batch.push(rest.subarray(pos, pos + len))
    pos += len
  }
  if (batch.length > 0) yield batch
}

/** Cut a stream into chunks (see chunkBatches for buffer ownership). */
export async function * chunkStream (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ChunkerOptions = {}): AsyncGenerator<Uint8Array> {
  for await (const batch of chunkBatches(source, options)) yield * batch
}
