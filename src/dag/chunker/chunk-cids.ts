import { CID } from 'multiformats/cid'
import { Digest } from 'multiformats/hashes/digest'
import { cidOf } from '../cid.js'
import { CID_BYTES, DIGEST_BYTES, hashInto } from './chunk-cut.js'
import { CODEC_RAW, HASH_BLAKE3, HASH_SHA2_256 } from '../constants.js'
import type { BlockHasher } from '../hashing.js'

/**
 * The CID whose bytes are at `cids[i * CID_BYTES]` (see hashInto): the same value as cid.ts's
 * `cidOf(hasher, CODEC_RAW, chunk)`, built on views of those bytes, where `Digest.create` and `CID.createV1`
 * would allocate (and V8 then move off-heap) three small arrays per chunk.
 */
export function cidAt (cids: Uint8Array, i: number): CID {
  const bytes = cids.subarray(i * CID_BYTES, (i + 1) * CID_BYTES)
  return new CID(1, CODEC_RAW, new Digest(bytes[2]!, DIGEST_BYTES, bytes.subarray(4), bytes.subarray(2)), bytes)
}

/** Raw-leaf CIDs of `chunks`, hashed on this thread. */
export function leafCids (hasher: BlockHasher, chunks: Uint8Array[]): CID[] {
  if (hasher.code !== HASH_BLAKE3 && hasher.code !== HASH_SHA2_256) return chunks.map(c => cidOf(hasher, CODEC_RAW, c))
  const bytes = new Uint8Array(chunks.length * CID_BYTES)
  const out: CID[] = []
  for (let i = 0; i < chunks.length; i++) {
    hashInto(hasher, chunks[i]!, bytes, i)
    out.push(cidAt(bytes, i))
  }
  return out
}
