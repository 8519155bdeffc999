import { CODEC_RAW } from '../constants.js'
import type { FastCdc } from './fastcdc.js'
import type { BlockHasher } from '../hashing.js'

/** Both cmesh hashes give 32-byte digests. */
export const DIGEST_BYTES = 32
/** A raw-leaf CIDv1 in bytes: version, codec, hash code and digest length (one varint byte each), digest. */
export const CID_BYTES = 4 + DIGEST_BYTES

/** The chunks cut in a segment from some offset: where each ends, and its CID. */
export interface SegmentCuts {
  /** End offset (in the segment) of each chunk, up to the last chunk more input cannot change. */
  ends: Uint32Array
  /** CID_BYTES per chunk, back to back: built where the hashing is done, so the main thread only wraps them. */
  cids: Uint8Array
}

/** Hash `chunk` and write its raw-leaf CID bytes at `cids[i * CID_BYTES]`. */
export function hashInto (hasher: BlockHasher, chunk: Uint8Array, cids: Uint8Array, i: number): void {
  const digest = hasher.digest(chunk)
  // one-byte varints: the raw codec and both hash codes are below 0x80
  if (digest.length !== DIGEST_BYTES || hasher.code >= 0x80) throw new Error(`${hasher.name} digests do not fit ${CID_BYTES}-byte CIDs`)
  const at = i * CID_BYTES
  cids[at] = 1
  cids[at + 1] = CODEC_RAW
  cids[at + 2] = hasher.code
  cids[at + 3] = DIGEST_BYTES
  cids.set(digest, at + 4)
}

/**
 * Length of the chunk at `start` if no input after `end` could change it, else 0. With maxSize bytes in view
 * the cut is final; with fewer, a cut point found before `end` is too, since FastCdc scans the same positions
 * with the same masks whatever follows: cutting into a segment's last maxSize bytes this way leaves only the
 * last, unfinished chunk to be joined with the next segment.
 */
export function definiteCut (cdc: FastCdc, buf: Uint8Array, start: number, end: number): number {
  const len = cdc.cut(buf, start, end)
  return len < end - start || end - start >= cdc.maxSize ? len : 0
}

/** Cut `segment` from `start` as if a cut were there, and hash each chunk (on a worker, or on the main thread). */
export function cutSegment (cdc: FastCdc, hasher: BlockHasher, segment: Uint8Array, start: number): SegmentCuts {
  let ends = new Uint32Array(128)
  let n = 0
  for (let pos = start; ;) {
    const len = definiteCut(cdc, segment, pos, segment.length)
    if (len === 0) break
    pos += len
    if (n === ends.length) {
      const grown = new Uint32Array(n * 2)
      grown.set(ends)
      ends = grown
    }
    ends[n++] = pos
  }
  ends = ends.slice(0, n)
  const cids = new Uint8Array(n * CID_BYTES)
  for (let i = 0, from = start; i < n; from = ends[i++]!) hashInto(hasher, segment.subarray(from, ends[i]), cids, i)
  return { ends, cids }
}
