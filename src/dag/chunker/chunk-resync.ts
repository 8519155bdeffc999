import type { CID } from 'multiformats/cid'
import { cidAt, leafCids } from './chunk-cids.js'
import { definiteCut } from './chunk-cut.js'
import type { CutResult } from './chunk-pool.js'
import type { FastCdc } from './fastcdc.js'
import type { BlockHasher } from '../hashing.js'

/** Chunks in stream order and the raw-leaf CID of each. */
export interface HashedBatch {
  /** Chunks in stream order; each stays valid (its memory is never reused) after it is yielded. */
  chunks: Uint8Array[]
  /** Raw-leaf CID of each chunk. */
  cids: CID[]
}

/** Average chunks past a segment's start after which the chains are taken not to meet (zeros, periodic data). */
const SYNC_CHUNKS = 8

/** Position of the j-th cut of a result's chain; the 0th is where the chain began. */
const cutAt = (r: CutResult, j: number): number => j === 0 ? r.start : r.ends[j - 1]!

/**
 * Joins segments cut separately into the sequential cut sequence. Each segment arrives cut and hashed from
 * its own start, as if a cut were there. A cut depends only on the bytes after the previous one, so the true
 * chain, continued here from the previous segment's last cut, equals the segment's chain from the first cut
 * the two share: before that point this thread cuts and hashes (the chunk spanning the two segments, and
 * usually one or two more); from it on the worker's chunks and CIDs are the true ones. When the chains do
 * not meet within SYNC_CHUNKS average chunks, this thread cuts the segment again from its first true cut.
 */
export class ChunkResync {
  /** Whether the data repeats: the last segment had to be cut here from its first true cut, as the next likely will. */
  repeating = false
  /** Bytes after the last true cut: the unfinished chunk (shorter than maxSize). */
  private carry: Uint8Array = new Uint8Array(0)
  /** The carry and the next segment's head, joined to cut the chunks that span two segments. */
  private readonly join: Uint8Array

  constructor (
    private readonly cdc: FastCdc,
    private readonly hasher: BlockHasher,
    private readonly cutHere: (segment: Uint8Array, start: number) => CutResult
  ) {
    this.join = new Uint8Array(2 * cdc.maxSize)
  }

  /**
   * The true chunks that end in this segment, given its chunks cut elsewhere from `input.start`; a bare segment
   * (one no worker cut) is cut here from its first true cut.
   */
  segment (input: CutResult | Uint8Array): HashedBatch {
    const chunks: Uint8Array[] = []
    const seg = input instanceof Uint8Array ? input : input.segment
    let r = 0
    if (this.carry.length > 0) {
      const w = this.carry.length
      const end = w + Math.min(seg.length, this.cdc.maxSize)
      this.join.set(this.carry, 0)
      this.join.set(seg.subarray(0, end - w), w)
      let pos = 0
      while (pos < w) {
        const len = definiteCut(this.cdc, this.join, pos, end)
        if (len === 0) { // only in a segment shorter than maxSize: the rest of it waits for more input
          this.carry = this.join.slice(pos, end)
          return this.hashed(chunks)
        }
        chunks.push(this.join.slice(pos, pos + len))
        pos += len
      }
      r = pos - w
    }
    const r0 = r
    let res = input instanceof Uint8Array ? this.cutHere(seg, r0) : input
    this.repeating = input instanceof Uint8Array && !this.chainsMeet(seg, res)
    const cuts = [r0]
    for (let j = 0; ;) {
      while (j <= res.ends.length && cutAt(res, j) < r) j++
      if (j <= res.ends.length && cutAt(res, j) === r) { // the chains meet: the rest are the worker's chunks
        for (let i = 1; i < cuts.length; i++) chunks.push(seg.subarray(cuts[i - 1], cuts[i]))
        const out = this.hashed(chunks)
        for (let i = j; i < res.ends.length; i++) {
          out.chunks.push(seg.subarray(cutAt(res, i), res.ends[i]))
          out.cids.push(cidAt(res.cids, i))
        }
        this.carry = seg.subarray(cutAt(res, res.ends.length))
        return out
      }
      if (r - r0 >= SYNC_CHUNKS * this.cdc.avgSize) { // give up meeting: cut the segment again from its first true cut
        res = this.cutHere(seg, r0)
        this.repeating = true
        r = r0
        cuts.length = 1
        j = 0
        continue
      }
      const len = definiteCut(this.cdc, seg, r, seg.length)
      if (len === 0) { // more input decides the next cut
        for (let i = 1; i < cuts.length; i++) chunks.push(seg.subarray(cuts[i - 1], cuts[i]))
        this.carry = seg.subarray(r)
        return this.hashed(chunks)
      }
      r += len
      cuts.push(r)
    }
  }

  /** Whether a chain started at the segment's start meets the true one in `res` soon: the data no longer repeats. */
  private chainsMeet (seg: Uint8Array, res: CutResult): boolean {
    for (let p = 0, j = 0; p < SYNC_CHUNKS * this.cdc.avgSize;) {
      while (j <= res.ends.length && cutAt(res, j) < p) j++
      if (j > res.ends.length) return false
      if (cutAt(res, j) === p) return true
      const len = definiteCut(this.cdc, seg, p, seg.length)
      if (len === 0) return false
      p += len
    }
    return false
  }

  /** The input has ended: cut the carry to its end. */
  finish (): HashedBatch {
    const chunks: Uint8Array[] = []
    const rest = this.carry
    for (let pos = 0; pos < rest.length;) {
      const len = this.cdc.cut(rest, pos, rest.length)
      chunks.push(rest.subarray(pos, pos + len))
      pos += len
    }
    this.carry = new Uint8Array(0)
    return this.hashed(chunks)
  }

  /** Chunks hashed on this thread: ones that span segments or precede the point where the chains meet. */
  private hashed (chunks: Uint8Array[]): HashedBatch {
    return { chunks, cids: leafCids(this.hasher, chunks) }
  }
}
