/**
 * Block deltas: a block written as copies from base blocks the receiver holds and literal inserts. The encoder is
 * fossil-delta's (Fossil SCM's copy/insert delta, made for this); the decoder here is strict: it reads the same
 * format within limits (target size and operation count capped, every copy checked against the base's length,
 * digits exact), so a hostile delta costs at most its capped output and is rejected with ERR_BAD_DELTA.
 *
 * Format (Fossil's): `SIZE\n` then operations, `CNT@OFF,` (copy CNT bytes of the base at OFF) or `CNT:BYTES` (insert
 * the CNT bytes that follow), ending with `CHECKSUM;`. Numbers are base-64 digits (0-9 A-Z _ a-z ~). The checksum is
 * read but not trusted: the result is verified against the wanted CID instead.
 */
import { createDelta } from 'fossil-delta'
import { BadDeltaError } from '../../errors.js'
import { MAX_DELTA_OPS, MAX_DELTA_TARGET } from './constants.js'

const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~'
const VALUE = new Int8Array(256).fill(-1)
for (let i = 0; i < DIGITS.length; i++) VALUE[DIGITS.charCodeAt(i)] = i
/** Digits of a number at most: 6 base-64 digits reach 2^36, past any size allowed here. */
const MAX_DIGITS = 6

export interface DeltaLimits {
  /** Largest block the delta may produce. @default MAX_DELTA_TARGET */
  maxTarget?: number
  /** Most operations. @default MAX_DELTA_OPS */
  maxOps?: number
}

/** The delta that turns `base` (the concatenated base blocks) into `target`. */
export function encodeDelta (base: Uint8Array, target: Uint8Array): Uint8Array {
  return createDelta(base, target)
}

/** The block a delta gives from `base`; throws BadDeltaError on anything outside the format or the limits. */
export function applyDelta (base: Uint8Array, delta: Uint8Array, limits: DeltaLimits = {}): Uint8Array {
  const maxTarget = limits.maxTarget ?? MAX_DELTA_TARGET
  const maxOps = limits.maxOps ?? MAX_DELTA_OPS
  let pos = 0
  const int = (): number => {
    let v = 0
    let n = 0
    while (pos < delta.length && VALUE[delta[pos]!]! >= 0) {
      if (++n > MAX_DIGITS) throw new BadDeltaError('number too long')
      v = v * 64 + VALUE[delta[pos++]!]!
    }
    if (n === 0) throw new BadDeltaError(`number expected at byte ${pos}`)
    return v
  }
  const size = int()
  if (delta[pos++] !== 0x0a) throw new BadDeltaError('size not followed by a newline')
  if (size > maxTarget) throw new BadDeltaError(`target of ${size} bytes exceeds the ${maxTarget} byte limit`)
  const out = new Uint8Array(size)
  let filled = 0
  let ops = 0
  while (pos < delta.length) {
    const cnt = int()
    const op = delta[pos++]
    if (op === 0x3b) { // ';' the checksum: the end
      if (pos !== delta.length) throw new BadDeltaError('bytes after the end')
      if (filled !== size) throw new BadDeltaError(`${filled} bytes produced, ${size} announced`)
      return out
    }
    if (++ops > maxOps) throw new BadDeltaError(`more than ${maxOps} operations`)
    if (cnt > size - filled) throw new BadDeltaError('operation past the announced size')
    if (op === 0x40) { // '@' copy
      const off = int()
      if (delta[pos++] !== 0x2c) throw new BadDeltaError('copy not followed by a comma')
      if (off + cnt > base.length) throw new BadDeltaError(`copy of ${cnt} bytes at ${off} past the base's ${base.length}`)
      out.set(base.subarray(off, off + cnt), filled)
    } else if (op === 0x3a) { // ':' insert
      if (cnt > delta.length - pos) throw new BadDeltaError('insert past the end of the delta')
      out.set(delta.subarray(pos, pos + cnt), filled)
      pos += cnt
    } else {
      throw new BadDeltaError('unknown operation')
    }
    filled += cnt
  }
  throw new BadDeltaError('unterminated')
}
