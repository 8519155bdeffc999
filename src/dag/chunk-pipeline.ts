import type { CID } from 'multiformats/cid'
import { AbortError } from '../errors.js'
import { cidOf } from './cid.js'
import { chunkPool } from './chunk-pool.js'
import { CODEC_RAW } from './constants.js'
import { chunkBatches, type ChunkerOptions } from './fastcdc.js'
import type { BlockHasher } from './hashing.js'

export interface HashedBatch {
  /** Chunks in stream order; each stays valid (its memory is never reused) after it is yielded. */
  chunks: Uint8Array[]
  /** Raw-leaf CID of each chunk. */
  cids: CID[]
}

export interface CutAndHashOptions {
  chunker?: ChunkerOptions
  hasher: BlockHasher
  /** Use the worker thread(s); the result is identical either way. */
  parallel: boolean
  signal?: AbortSignal
}

/** Inputs queued at the worker ahead of the consumer. */
const CHUNK_AHEAD = 3

const allocShared = (size: number): Uint8Array => new Uint8Array(new SharedArrayBuffer(size))

/** A buffer whose memory a worker can see: inputs already in a SharedArrayBuffer pass through. */
export function toShared (buf: Uint8Array): Uint8Array {
  if (buf.buffer instanceof SharedArrayBuffer) return buf
  const copy = allocShared(buf.length)
  copy.set(buf)
  return copy
}

/** Allocate a read buffer that workers can share. */
export const allocReadBuffer = allocShared

function hashBatch (hasher: BlockHasher, chunks: Uint8Array[]): HashedBatch {
  return { chunks, cids: chunks.map(c => cidOf(hasher, CODEC_RAW, c)) }
}

/**
 * Cut a byte stream into FastCDC chunks and hash each into a raw-leaf CID, in stream order. With `parallel`
 * the cutting runs on a worker thread while this thread hashes; boundaries and CIDs are the same as without.
 * Source buffers must not be reused after they are yielded.
 */
export async function * cutAndHash (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: CutAndHashOptions): AsyncGenerator<HashedBatch> {
  const check = (): void => { if (options.signal?.aborted === true) throw new AbortError() }
  if (!options.parallel) {
    for await (const chunks of chunkBatches(source, options.chunker)) {
      check()
      yield hashBatch(options.hasher, chunks)
    }
    return
  }
  const stream = chunkPool.openStream(options.chunker)
  const working: Array<Promise<Uint8Array[]>> = []
  try {
    let last: Uint8Array | undefined
    for await (const raw of source) {
      check()
      if (raw.length === 0) continue
      // hold one input back: the last one must be sent with `final`
      if (last !== undefined) working.push(stream.push(last))
      last = toShared(raw)
      if (working.length >= CHUNK_AHEAD) yield hashBatch(options.hasher, await working.shift()!)
    }
    if (last !== undefined) working.push(stream.push(last, true))
    while (working.length > 0) {
      check()
      yield hashBatch(options.hasher, await working.shift()!)
    }
  } finally {
    stream.abandon()
    for (const p of working) p.catch(() => {}) // an early exit leaves no unhandled rejection behind
  }
}
