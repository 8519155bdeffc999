import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { decodeCanonical } from '../../store/links.js'
import { ProtocolError } from './wire.js'

/**
 * Who holds what of a DAG: the leaves a peer holds, as indexes in the DAG's leaf order (the order of a file's
 * chunks, 0 to leaves - 1), and the two messages peers downloading the same DAG trade:
 *   { t: 'holdings', root, leaves, enc, data }   everything the sender holds of `root`'s leaves (replaces what was
 *                                                 known of it), sent when two peers meet
 *   { t: 'have', root, leaves, enc, data }       leaves the sender verified since its last message, batched (at
 *                                                 least one)
 * `leaves` is the DAG's leaf count (1 to MAX_HOLDINGS_LEAVES), `data` the set in one of two encodings, whichever
 * is shorter (runs on a tie):
 *   'bits'   a bitfield, leaf i in byte i >> 3, bit 0x80 >> (i & 7); ceil(leaves / 8) bytes, the bits past the
 *            last leaf zero
 *   'runs'   the held runs in order, each as two varints: the gap since the previous run's end (the first run's
 *            start; at least 1 after the first, so touching runs are one run) and its length (at least 1)
 * Measured (npm run bench:crowd -- --encodings): runs win by far for what a downloader holds (a few contiguous
 * stretches: a fresh peer, a seeder, a download begun at a random place) and bitfields for scattered holdings
 * (rarest-first), so neither alone is compact for both.
 * Decoding is strict: canonical DAG-CBOR, exact fields, shortest varints, runs inside the DAG, the shorter encoding
 * only (one set, one encoding), a message of at most MAX_HOLDINGS_MESSAGE_BYTES; anything else is a ProtocolError.
 */

/** Leaves a holdings message may speak of: 2^20 leaves are 256 GiB of 256 KiB chunks, a bitfield of 128 KiB. */
export const MAX_HOLDINGS_LEAVES = 1 << 20
/** Largest holdings or have message: a full bitfield, the root CID and the map around them. */
export const MAX_HOLDINGS_MESSAGE_BYTES = MAX_HOLDINGS_LEAVES / 8 + 512

/** A set of leaf indexes of one DAG, 0 to size - 1 (a bitfield in memory: size / 8 bytes). */
export class LeafSet {
  readonly bits: Uint8Array
  private held = 0

  constructor (readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1 || size > MAX_HOLDINGS_LEAVES) throw new RangeError(`a DAG has 1 to ${MAX_HOLDINGS_LEAVES} leaves, not ${size}`)
    this.bits = new Uint8Array(Math.ceil(size / 8))
  }

  /** Leaves in the set. */
  get count (): number {
    return this.held
  }

  has (i: number): boolean {
    return i >= 0 && i < this.size && (this.bits[i >> 3]! & (0x80 >> (i & 7))) !== 0
  }

  /** Add leaf `i`; whether it was new. */
  add (i: number): boolean {
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.size) throw new RangeError(`leaf ${i} is outside 0-${this.size - 1}`)
    if (this.has(i)) return false
    this.bits[i >> 3]! |= 0x80 >> (i & 7)
    this.held++
    return true
  }

  /** Remove leaf `i`; whether it was there. */
  delete (i: number): boolean {
    if (!this.has(i)) return false
    this.bits[i >> 3]! &= ~(0x80 >> (i & 7))
    this.held--
    return true
  }

  /** Add every leaf of `other` (a set over the same DAG); how many were new. */
  addAll (other: LeafSet): number {
    if (other.size !== this.size) throw new RangeError(`sets over ${other.size} and ${this.size} leaves`)
    const before = this.held
    for (const [start, length] of other.runs()) for (let i = start; i < start + length; i++) this.add(i)
    return this.held - before
  }

  /** The held runs in order: [start, length]. Bytes with no leaf held, or all eight, are passed whole. */
  * runs (): Generator<[number, number]> {
    let i = 0
    while (i < this.size) {
      if ((i & 7) === 0 && this.bits[i >> 3] === 0) { i += 8; continue }
      if (!this.has(i)) { i++; continue }
      const start = i
      while (i < this.size) {
        // a full byte lies wholly inside the DAG: bits past the last leaf are never set
        if ((i & 7) === 0 && this.bits[i >> 3] === 0xff) { i += 8; continue }
        if (!this.has(i)) break
        i++
      }
      yield [start, i - start]
    }
  }
}

/** A holdings message: everything the sender holds of `root` ('holdings'), or what it verified since ('have'). */
export interface HoldingsMessage {
  t: 'holdings' | 'have'
  root: CID
  leaves: LeafSet
}

function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 128); len++ }
  return len
}

/** Bytes of `set` in each encoding. */
export function encodedLengths (set: LeafSet): { bits: number, runs: number } {
  let runs = 0
  let end = 0
  for (const [start, length] of set.runs()) {
    runs += varintLength(start - end) + varintLength(length)
    end = start + length
  }
  return { bits: set.bits.length, runs }
}

function encodeRuns (set: LeafSet, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let at = 0
  const put = (n: number): void => {
    while (n >= 0x80) { out[at++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128) }
    out[at++] = n
  }
  let end = 0
  for (const [start, len] of set.runs()) {
    put(start - end)
    put(len)
    end = start + len
  }
  return out
}

export function encodeHoldings (m: HoldingsMessage): Uint8Array {
  if (m.t === 'have' && m.leaves.count === 0) throw new ProtocolError('a have message announces at least one leaf')
  const lengths = encodedLengths(m.leaves)
  const runs = lengths.runs <= lengths.bits
  const data = runs ? encodeRuns(m.leaves, lengths.runs) : m.leaves.bits
  return dagCbor.encode({ t: m.t, root: m.root, leaves: m.leaves.size, enc: runs ? 'runs' : 'bits', data })
}

function fail (why: string): never {
  throw new ProtocolError(`malformed holdings message: ${why}`)
}

function decodeRuns (data: Uint8Array, set: LeafSet): void {
  let at = 0
  const varint = (what: string): number => {
    let n = 0
    for (let i = 0; i < 4; i++) {
      if (at >= data.length) fail(`${what} runs past the end`)
      const b = data[at++]!
      n += (b & 0x7f) * 2 ** (7 * i)
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) fail(`${what} is not in its shortest form`)
        return n
      }
    }
    fail(`${what} is longer than 4 bytes`)
  }
  let end = 0
  while (at < data.length) {
    const gap = varint('a gap')
    const length = varint('a run length')
    if (gap === 0 && end > 0) fail('runs touch (they are one run)')
    if (length === 0) fail('an empty run')
    const start = end + gap
    if (start + length > set.size) fail(`a run ends past leaf ${set.size - 1}`)
    for (let i = start; i < start + length; i++) set.add(i)
    end = start + length
  }
}

export function decodeHoldings (bytes: Uint8Array): HoldingsMessage {
  if (bytes.length > MAX_HOLDINGS_MESSAGE_BYTES) fail(`${bytes.length} bytes exceed ${MAX_HOLDINGS_MESSAGE_BYTES}`)
  let value: unknown
  try {
    value = decodeCanonical(bytes)
  } catch (err) {
    fail(`not canonical DAG-CBOR (${(err as Error).message})`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('not a map')
  const m = value as Record<string, unknown>
  const keys = Object.keys(m)
  if (keys.length !== 5 || !['t', 'root', 'leaves', 'enc', 'data'].every(k => Object.hasOwn(m, k))) fail(`expected fields t, root, leaves, enc, data, got ${keys.join(', ')}`)
  if (m.t !== 'holdings' && m.t !== 'have') fail('unknown message type')
  const root = CID.asCID(m.root) ?? fail('root is not a CID')
  if (typeof m.leaves !== 'number' || !Number.isSafeInteger(m.leaves) || m.leaves < 1 || m.leaves > MAX_HOLDINGS_LEAVES) {
    fail(`leaves must be an integer from 1 to ${MAX_HOLDINGS_LEAVES}`)
  }
  if (!(m.data instanceof Uint8Array)) fail('data must be bytes')
  const set = new LeafSet(m.leaves)
  if (m.enc === 'bits') {
    if (m.data.length !== set.bits.length) fail(`a bitfield of ${m.leaves} leaves takes ${set.bits.length} bytes, not ${m.data.length}`)
    const spare = set.bits.length * 8 - m.leaves
    if (spare > 0 && (m.data[m.data.length - 1]! & ((1 << spare) - 1)) !== 0) fail('bits set past the last leaf')
    for (let i = 0; i < m.leaves; i++) if ((m.data[i >> 3]! & (0x80 >> (i & 7))) !== 0) set.add(i)
  } else if (m.enc === 'runs') {
    if (m.data.length > set.bits.length) fail('runs longer than the bitfield')
    decodeRuns(m.data, set)
  } else {
    fail('unknown encoding')
  }
  const lengths = encodedLengths(set)
  if ((m.enc === 'runs') !== (lengths.runs <= lengths.bits)) fail('not the shorter encoding')
  if (m.t === 'have' && set.count === 0) fail('a have message announces at least one leaf')
  return { t: m.t, root, leaves: set }
}
