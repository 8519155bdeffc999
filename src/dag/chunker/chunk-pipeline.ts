import { AbortError } from '../../errors.js'
import { leafCids } from './chunk-cids.js'
import { chunkPool } from './chunk-pool.js'
import type { HashedBatch } from './chunk-resync.js'
import { chunkBatches, type ChunkerOptions } from './fastcdc.js'
import type { BlockHasher } from '../hashing.js'
import { cutAndHashParallel } from './parallel-cut.js'

export type { HashedBatch } from './chunk-resync.js'
export { allocReadBuffer, dropSpareReadBuffers, recycleReadBuffer } from './chunk-segments.js'

export interface CutAndHashOptions {
  chunker?: ChunkerOptions
  hasher: BlockHasher
  /** Cut and hash on worker threads; the result is identical either way. */
  parallel: boolean
  signal?: AbortSignal
}

/** Hashes the workers compute (by name); any other hasher runs on this thread. */
const WORKER_HASHES = new Set(['blake3', 'sha2-256'])

/**
 * Cut a byte stream into FastCDC chunks and hash each into a raw-leaf CID, in stream order. With `parallel`
 * the pool's workers cut and hash segments of the stream and this thread joins them (parallel-cut.ts);
 * boundaries and CIDs are the same as without. Source buffers must not be reused after they are yielded.
 */
export async function * cutAndHash (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: CutAndHashOptions): AsyncGenerator<HashedBatch> {
  const { hasher, signal } = options
  if (options.parallel && WORKER_HASHES.has(hasher.name)) {
    yield * cutAndHashParallel(source, chunkPool, options.chunker, hasher, signal)
    return
  }
  for await (const chunks of chunkBatches(source, options.chunker)) {
    if (signal?.aborted === true) throw new AbortError()
    yield { chunks, cids: leafCids(hasher, chunks) }
  }
}
