/**
 * A small DAG-CBOR writer that can deviate, at exactly one item, from the canonical encoding: structure-aware
 * mutations of a valid message. With no deviation it writes what @ipld/dag-cbor writes (checked by
 * cbor-variants.test.ts). The deviations are of two kinds:
 *
 *  - other encodings of the same value (an integer as a float, a length in more bytes than needed, an indefinite
 *    length, map keys out of order, a string's U+FFFD as an invalid UTF-8 byte, a CID's bytes as version 0 followed by
 *    its codec and multihash, which multiformats reads as a CIDv0 of that multihash): a strict decoder refuses them,
 *    or the bytes of one value are not unique (a signed or content-addressed record then has several encodings);
 *  - other values, still canonically encoded (a field of another type, a wrapped value, a field dropped or added,
 *    a length header declaring far more than follows): a decoder refuses them with its typed error, or accepts
 *    a value whose own encoding is these very bytes.
 *
 * Items are numbered in pre-order (a map's keys count as items, before their values); a deviation names its item
 * by a number taken modulo the item count, so every deviation lands somewhere.
 */
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { leb128 } from '../helpers/varint.js'

export type DeviationKind =
  | 'float16' | 'float32' | 'float64' | 'wideHeader' | 'indefinite' | 'swapKeys' | 'dupEntry' | 'invalidUtf8'
  | 'hugeLength' | 'retype' | 'wrap' | 'dropEntry' | 'addEntry' | 'dropItem' | 'dupItem' | 'cidVersion0'

export interface Deviation {
  kind: DeviationKind
  /** Item number (modulo the item count). */
  at: number
  /** Picks among alternatives (the replacement of a retype, which huge length). */
  alt: number
}

/** Deviations that keep the value and change only its encoding: a canonical decoder refuses every one. */
export const ENCODING_ONLY: readonly DeviationKind[] = ['float16', 'float32', 'float64', 'wideHeader', 'indefinite', 'swapKeys', 'invalidUtf8']

export const deviationArb: fc.Arbitrary<Deviation> = fc.record({
  kind: fc.constantFrom<DeviationKind>(
    'float16',
    'float32',
    'float64',
    'wideHeader',
    'indefinite',
    'swapKeys',
    'dupEntry',
    'invalidUtf8',
    'hugeLength',
    'retype',
    'wrap',
    'dropEntry',
    'addEntry',
    'dropItem',
    'dupItem',
    'cidVersion0'
  ),
  at: fc.nat(),
  alt: fc.nat()
})

/** Length arguments far beyond any input: refused without being allocated. */
export const HUGE_LENGTHS: readonly bigint[] = [2n ** 31n - 1n, 2n ** 32n, 2n ** 40n, 2n ** 53n - 1n, 2n ** 64n - 1n]

const SOME_CID = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')

/** Replacements for a retyped item: other types, edge numbers, near misses. */
function replacements (v: unknown): unknown[] {
  const out: unknown[] = [
    null,
    true,
    false,
    0,
    -1,
    1,
    0.5,
    2 ** 53,
    -(2 ** 53),
    2 ** 32,
    '',
    'x'.repeat(300),
    new Uint8Array(0),
    new Uint8Array(33),
    {},
    [],
    SOME_CID,
    ['x']
  ]
  if (typeof v === 'number') out.push(String(v), v + 1, v - 1, -v, v * 1024, v + 0.5)
  if (typeof v === 'string') out.push(v + 'x', v.slice(1), v.toUpperCase(), `../${v}`, `${v}\0`, `${v}/x`, new TextEncoder().encode(v), Number(v))
  if (v instanceof Uint8Array) out.push(v.subarray(1), Uint8Array.from([...v, 0]), Buffer.from(v).toString('hex'))
  return out
}

interface Writer { parts: number[] }

function push (w: Writer, ...bytes: number[]): void {
  for (const b of bytes) w.parts.push(b)
}

/** A major type's header with argument `n`, minimal unless `wide` (one size larger) or `width` is forced. */
function header (w: Writer, major: number, n: bigint, wide = false): boolean {
  const widths: Array<[bigint, number, number]> = [[23n, 0, 0], [0xffn, 24, 1], [0xffffn, 25, 2], [0xffffffffn, 26, 4], [0xffffffffffffffffn, 27, 8]]
  let i = widths.findIndex(([max]) => n <= max)
  if (i < 0) throw new Error(`argument ${n} does not fit CBOR`)
  const widened = wide && i < widths.length - 1
  if (widened) i++
  const [, info, bytes] = widths[i]!
  push(w, (major << 5) | (i === 0 ? Number(n) : info))
  for (let k = bytes - 1; k >= 0; k--) push(w, Number((n >> BigInt(8 * k)) & 0xffn))
  return widened
}

function float16Bits (x: number): number | undefined {
  if (Object.is(x, 0)) return 0
  if (Object.is(x, -0)) return 0x8000
  if (!Number.isFinite(x)) return undefined
  const sign = x < 0 ? 0x8000 : 0
  const a = Math.abs(x)
  const e = Math.floor(Math.log2(a))
  if (e < -14 || e > 15) return undefined
  const m = (a / 2 ** e - 1) * 1024
  if (!Number.isInteger(m) || m < 0 || m > 1023) return undefined
  return sign | ((e + 15) << 10) | m
}

function writeFloat (w: Writer, x: number, width: 16 | 32 | 64): boolean {
  if (width === 16) {
    const bits = float16Bits(x)
    if (bits === undefined) return false
    push(w, 0xf9, bits >> 8, bits & 0xff)
    return true
  }
  const dv = new DataView(new ArrayBuffer(width / 8))
  if (width === 32) {
    if (Math.fround(x) !== x && !Number.isNaN(x)) return false
    dv.setFloat32(0, x)
    push(w, 0xfa)
  } else {
    dv.setFloat64(0, x)
    push(w, 0xfb)
  }
  push(w, ...new Uint8Array(dv.buffer))
  return true
}

const utf8 = new TextEncoder()

function compareKeys (a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

class VariantEncoder {
  private n = 0
  applied = false
  constructor (private readonly target: number | undefined, private readonly dev: Deviation | undefined) {}

  get count (): number { return this.n }

  write (w: Writer, v: unknown): void {
    const index = this.n++
    const here = this.dev !== undefined && index === this.target
    if (here) {
      if (this.deviate(w, v)) { this.applied = true; return }
    }
    this.canonical(w, v, here ? this.dev : undefined)
  }

  /** Deviations that replace the item wholesale. Returns whether it applied. */
  private deviate (w: Writer, v: unknown): boolean {
    const d = this.dev!
    switch (d.kind) {
      case 'float16':
      case 'float32':
      case 'float64': {
        if (typeof v !== 'number') return false
        const width = d.kind === 'float16' ? 16 : d.kind === 'float32' ? 32 : 64
        if (!Number.isInteger(v) && width === 64) return false // non-integers are float64 already
        const before = w.parts.length
        if (writeFloat(w, v, width)) return true
        w.parts.length = before
        return false
      }
      case 'retype': {
        const options = replacements(v)
        const r = options[d.alt % options.length]
        this.canonical(w, r, undefined, false)
        return true
      }
      case 'wrap':
        this.canonical(w, [v], undefined, false)
        return true
      case 'hugeLength': {
        const huge = HUGE_LENGTHS[d.alt % HUGE_LENGTHS.length]!
        if (typeof v === 'string') { header(w, 3, huge); push(w, ...utf8.encode(v)); return true }
        if (v instanceof Uint8Array && CID.asCID(v) === null) { header(w, 2, huge); push(w, ...v); return true }
        if (Array.isArray(v)) { header(w, 4, huge); for (const x of v) this.canonical(w, x, undefined, false); return true }
        if (isMap(v)) {
          const entries = sortedEntries(v)
          header(w, 5, huge)
          for (const [k, x] of entries) { this.canonical(w, k, undefined, false); this.canonical(w, x, undefined, false) }
          return true
        }
        return false
      }
      default:
        return false
    }
  }

  /** The canonical encoding of `v`, with a structural deviation of this item itself when `dev` says so. */
  private canonical (w: Writer, v: unknown, dev: Deviation | undefined, count = true): void {
    const wide = dev?.kind === 'wideHeader'
    const mark = (): void => { if (dev !== undefined) this.applied = true }
    const child = (x: unknown): void => { if (count) this.write(w, x); else this.canonical(w, x, undefined, false) }
    if (v === null) { push(w, 0xf6); return }
    if (v === true) { push(w, 0xf5); return }
    if (v === false) { push(w, 0xf4); return }
    if (typeof v === 'bigint') {
      if (v >= 0n ? header(w, 0, v, wide) : header(w, 1, -1n - v, wide)) mark()
      return
    }
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) {
        if (v >= 0 ? header(w, 0, BigInt(v), wide) : header(w, 1, BigInt(-1 - v), wide)) mark()
      } else if (Number.isInteger(v) && Math.abs(v) <= 2 ** 64) {
        // what @ipld/dag-cbor does with an unsafe integer: an integer of eight bytes
        if (v >= 0) header(w, 0, BigInt(v)); else header(w, 1, -1n - BigInt(v))
      } else {
        writeFloat(w, v, 64)
      }
      return
    }
    if (typeof v === 'string') {
      let bytes = utf8.encode(v)
      if (dev?.kind === 'invalidUtf8') {
        const at = findReplacementChar(bytes)
        if (at >= 0) { bytes = Uint8Array.from([...bytes.subarray(0, at), 0xff, ...bytes.subarray(at + 3)]); mark() }
      }
      if (dev?.kind === 'indefinite') { push(w, 0x7f); header(w, 3, BigInt(bytes.length)); push(w, ...bytes, 0xff); mark(); return }
      if (header(w, 3, BigInt(bytes.length), wide)) mark()
      push(w, ...bytes)
      return
    }
    const cid = typeof v === 'object' ? CID.asCID(v) : null
    if (cid !== null) {
      if (dev?.kind === 'cidVersion0') {
        const bytes = [0x00, ...leb128(cid.code), ...cid.multihash.bytes]
        push(w, 0xd8, 0x2a)
        header(w, 2, BigInt(bytes.length + 1))
        push(w, 0x00, ...bytes)
        mark()
        return
      }
      push(w, 0xd8, 0x2a)
      if (header(w, 2, BigInt(cid.bytes.length + 1), wide)) mark()
      push(w, 0x00, ...cid.bytes)
      return
    }
    if (v instanceof Uint8Array) {
      if (dev?.kind === 'indefinite') { push(w, 0x5f); header(w, 2, BigInt(v.length)); push(w, ...v, 0xff); mark(); return }
      if (header(w, 2, BigInt(v.length), wide)) mark()
      push(w, ...v)
      return
    }
    if (Array.isArray(v)) {
      let items = v
      if (dev?.kind === 'dropItem' && v.length > 0) { items = [...v.slice(0, dev.alt % v.length), ...v.slice(dev.alt % v.length + 1)]; mark() }
      if (dev?.kind === 'dupItem' && v.length > 0) { const i = dev.alt % v.length; items = [...v.slice(0, i + 1), v[i], ...v.slice(i + 1)]; mark() }
      if (dev?.kind === 'indefinite') { push(w, 0x9f); mark() } else if (header(w, 4, BigInt(items.length), wide)) mark()
      for (const x of items) child(x)
      if (dev?.kind === 'indefinite') push(w, 0xff)
      return
    }
    if (isMap(v)) {
      let entries = sortedEntries(v)
      if (dev?.kind === 'swapKeys' && entries.length > 1) { entries = [...entries].reverse(); mark() }
      if (dev?.kind === 'dupEntry' && entries.length > 0) { entries = [entries[0]!, ...entries]; mark() }
      if (dev?.kind === 'dropEntry' && entries.length > 0) { const i = dev.alt % entries.length; entries = [...entries.slice(0, i), ...entries.slice(i + 1)]; mark() }
      if (dev?.kind === 'addEntry') {
        const extra = ['x', 'extra', '__proto__', 'constructor', 'type', 'sig', 'v'][dev.alt % 7]!
        if (!Object.hasOwn(v, extra)) { entries = sortByKey([...entries, [extra, 0]]); mark() }
      }
      if (dev?.kind === 'indefinite') { push(w, 0xbf); mark() } else if (header(w, 5, BigInt(entries.length), wide)) mark()
      for (const [k, x] of entries) { child(k); child(x) }
      if (dev?.kind === 'indefinite') push(w, 0xff)
      return
    }
    throw new Error(`cannot encode ${typeof v} as DAG-CBOR`)
  }
}

function isMap (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && CID.asCID(v) === null
}

function sortByKey (entries: Array<[string, unknown]>): Array<[string, unknown]> {
  return entries.sort(([a], [b]) => compareKeys(utf8.encode(a), utf8.encode(b)))
}

function sortedEntries (v: Record<string, unknown>): Array<[string, unknown]> {
  return sortByKey(Object.entries(v))
}

function findReplacementChar (bytes: Uint8Array): number {
  for (let i = 0; i + 2 < bytes.length; i++) if (bytes[i] === 0xef && bytes[i + 1] === 0xbf && bytes[i + 2] === 0xbd) return i
  return -1
}

export interface Variant {
  bytes: Uint8Array
  /** Whether the deviation found an item it applies to (otherwise `bytes` is the canonical encoding). */
  applied: boolean
}

/** Encode a decoded DAG-CBOR value, deviating at one item as `dev` says (or canonically, without `dev`). */
export function encodeVariant (value: unknown, dev?: Deviation): Variant {
  let target: number | undefined
  if (dev !== undefined) {
    const counter = new VariantEncoder(undefined, undefined)
    counter.write({ parts: [] }, value)
    target = dev.at % counter.count
  }
  const enc = new VariantEncoder(target, dev)
  const w: Writer = { parts: [] }
  enc.write(w, value)
  return { bytes: Uint8Array.from(w.parts), applied: enc.applied }
}
