import { Readable, pipeline } from 'node:stream'
import { Worker } from 'node:worker_threads'
import zlib from 'node:zlib'
import { Deflate as CanonicalDeflate } from 'pako'
import { ArchiveError } from '../../errors.js'
import { MAX_GZIP_HEADER, type Compressor, type GzipRecipe } from '../nodes.js'
import type { CanonicalSettings, DeflatePiece, DeflateReply } from './canonical-worker.js'
import { CANONICAL_INPUT_CHUNK, MAX_PROOFS, SCREEN_STEPS, ZLIB_CHUNK } from './constants.js'

/** Compressor and zlib settings of a raw deflate stream. */
export type DeflateSettings = Omit<GzipRecipe, 'header'>

const FHCRC = 2
const FEXTRA = 4
const FNAME = 8
const FCOMMENT = 16

function invalid (reason: string): never {
  throw new ArchiveError('ERR_ARCHIVE_INVALID', `gzip: ${reason}`)
}

/** Does `head` start like a gzip member (magic and deflate method)? */
export function isGzip (head: Uint8Array): boolean {
  return head.length >= 18 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8
}

/** Length of the gzip header at the start of `head` (fields kept as bytes: mtime, flags, OS, name, comment ...). */
export function gzipHeaderLength (head: Uint8Array): number {
  if (!isGzip(head)) invalid('not a gzip member')
  const flags = head[3]!
  if ((flags & 0xe0) !== 0) invalid('reserved header flags set')
  let pos = 10
  const need = (n: number): void => { if (pos + n > Math.min(head.length, MAX_GZIP_HEADER)) invalid(`header longer than ${MAX_GZIP_HEADER} bytes`) }
  if ((flags & FEXTRA) !== 0) {
    need(2)
    const xlen = head[pos]! | (head[pos + 1]! << 8)
    need(2 + xlen)
    pos += 2 + xlen
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue
    for (;;) {
      need(1)
      if (head[pos++] === 0) break
    }
  }
  if ((flags & FHCRC) !== 0) { need(2); pos += 2 }
  return pos
}

/**
 * Settings to try, likeliest first (about 40 for Node's zlib, under 10 for canonical zlib: each costs a deflate of
 * the screen's input). XFL (byte 8 of the header) is 2 when zlib compressed at level 9 and 4 at level 1: that level
 * goes first. Huffman-only and RLE output does not depend on the level; smaller windows are tried at the two common
 * levels only. Canonical zlib (what npm published with before Node bundled Chromium's zlib, and what gzip-compatible
 * tools built on zlib write) is tried at the levels XFL allows: zlib writes 2 for level 9 only, 4 for level 1 or a
 * Huffman-only/RLE strategy, 0 for the rest.
 */
export function candidateSettings (xfl: number): DeflateSettings[] {
  const first = xfl === 2 ? 9 : xfl === 4 ? 1 : 6
  const levels = [first, ...[9, 6, 1, 2, 3, 4, 5, 7, 8].filter(l => l !== first)]
  const out: DeflateSettings[] = []
  const add = (compressor: Compressor, level: number, memLevel: number, windowBits: number, strategy: number): void => {
    out.push({ compressor, level, memLevel, windowBits, strategy })
  }
  add('node', first, 8, 15, 0)
  add('canonical', first, 8, 15, 0)
  for (const level of levels.slice(1)) add('node', level, 8, 15, 0)
  for (const level of levels) add('node', level, 9, 15, 0)
  for (const level of levels) add('node', level, 8, 15, 1)
  add('node', first, 8, 15, 2)
  add('node', first, 8, 15, 3)
  for (const level of [first, first === 9 ? 6 : 9]) for (let w = 14; w >= 9; w--) add('node', level, 8, w, 0)
  add('node', 0, 8, 15, 0)
  const canonical = xfl === 2 ? [9] : xfl === 4 ? [1] : xfl === 0 ? [6, 2, 3, 4, 5, 7, 8] : [6, 9, 1]
  for (const level of canonical) if (level !== first) add('canonical', level, 8, 15, 0)
  add('canonical', first, 9, 15, 0)
  add('canonical', first, 8, 15, 1)
  if (xfl === 4) { add('canonical', 1, 8, 15, 2); add('canonical', 1, 8, 15, 3) }
  return out
}

/** Canonical zlib's deflater (pako, a port of zlib 1.3 with zlib's own hash) for `s`. */
function canonicalDeflater (s: DeflateSettings, chunkSize: number): CanonicalDeflate {
  const { level, memLevel, windowBits, strategy } = s
  return new CanonicalDeflate({ raw: true, level, memLevel, windowBits, strategy: strategy as 0, legacyHash: true, chunkSize })
}

/**
 * Raw deflate of `input` with `s`, finished (`finish`) or not: unfinished output is what the compressor has
 * written so far, a prefix of the finished stream (empty until its first block is full).
 */
export function deflateSync (s: DeflateSettings, input: Uint8Array, finish: boolean): Uint8Array {
  if (s.compressor === 'node') {
    const { level, memLevel, windowBits, strategy } = s
    return zlib.deflateRawSync(input, { level, memLevel, windowBits, strategy, finishFlush: finish ? zlib.constants.Z_FINISH : zlib.constants.Z_NO_FLUSH })
  }
  const d = canonicalDeflater(s, 4096)
  d.push(input, finish)
  if (d.err !== 0) throw new ArchiveError('ERR_ARCHIVE_INVALID', `deflate: ${d.msg}`)
  return finish ? d.result : Buffer.concat(d.chunks) // finished, pako gathers its chunks into `result`
}

/** Bytes `a` and `b` share from their start. */
export function commonPrefix (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  const x = Buffer.from(a.buffer, a.byteOffset, n)
  const y = Buffer.from(b.buffer, b.byteOffset, n)
  if (x.equals(y)) return n
  let lo = 0
  let hi = n // x[0, lo) equal, and a difference lies in [lo, hi)
  while (hi - lo > 64) {
    const mid = (lo + hi) >>> 1
    if (x.subarray(lo, mid).equals(y.subarray(lo, mid))) lo = mid
    else hi = mid
  }
  while (lo < hi && x[lo] === y[lo]) lo++
  return lo
}

function startsWith (whole: Uint8Array, part: Uint8Array): boolean {
  return part.length <= whole.length && Buffer.from(whole.buffer, whole.byteOffset, part.length).equals(part)
}

/** What the screen found: settings to prove, and the nearest miss (for a delta when none proves). */
export interface Screen {
  /** The one setting whose output was a prefix of the original, or at most MAX_PROOFS whose output was still empty. */
  settings: DeflateSettings[]
  /** The first setting's output was judged (not merely empty so far). */
  conclusive: boolean
  /** The setting whose output shared the most bytes with the original, and how many. */
  nearest?: { settings: DeflateSettings, prefix: number }
}

/**
 * The settings that could have made `deflated` (the original raw deflate bytes we hold, from the start) out of
 * `input` (the start of the uncompressed stream; `whole` when it is all of it). Each setting is tried on a
 * growing start of the input (SCREEN_STEPS) until its output says something: a setting passes when its output
 * is a prefix of the original (for the whole stream, equals it). zlib writes nothing until its first block is
 * full (up to 64 Ki symbols at memLevel 9), so a setting whose output is still empty at the end is kept, last.
 */
export function screenSettings (input: Uint8Array, deflated: Uint8Array, whole: boolean, xfl: number): Screen {
  const open: DeflateSettings[] = []
  let nearest: Screen['nearest']
  for (const s of candidateSettings(xfl)) {
    let verdict: boolean | undefined
    for (const step of SCREEN_STEPS) {
      const last = step >= input.length
      const out = deflateSync(s, input.subarray(0, step), last && whole)
      if (last && whole) verdict = out.length === deflated.length && startsWith(deflated, out)
      else if (out.length > 0) verdict = startsWith(deflated, out)
      if (verdict === false) {
        const prefix = commonPrefix(out, deflated)
        if (prefix > (nearest?.prefix ?? 0)) nearest = { settings: s, prefix }
      }
      if (verdict !== undefined || last) break
    }
    if (verdict === true) {
      // the first setting judged is proven at once: screening the ~50 others costs more than a rare failed proof,
      // after which the nearest miss still makes a delta
      return { settings: [s], conclusive: true }
    } else if (verdict === undefined) {
      open.push(s)
    }
  }
  return { settings: open.slice(0, MAX_PROOFS), conclusive: false, nearest }
}

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>

function through (source: Source, transform: zlib.DeflateRaw | zlib.InflateRaw): AsyncIterable<Buffer> {
  return pipeline(Readable.from(source, { objectMode: false }), transform, () => {}) as AsyncIterable<Buffer>
}

/**
 * Inflate a raw deflate stream, refusing more than `maxBytes` of output (a gzip bomb) with ERR_ARCHIVE_TOO_LARGE.
 * zlib's own errors become ERR_ARCHIVE_INVALID.
 */
export async function * inflateRaw (source: Source, maxBytes: number): AsyncGenerator<Uint8Array> {
  let total = 0
  try {
    for await (const chunk of through(source, zlib.createInflateRaw({ chunkSize: ZLIB_CHUNK }))) {
      total += chunk.length
      if (total > maxBytes) throw new ArchiveError('ERR_ARCHIVE_TOO_LARGE', `gzip: expands past ${maxBytes} bytes`)
      yield chunk
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw err
    if ((err as { code?: string }).code?.startsWith('Z_') === true) invalid((err as Error).message)
    throw err
  }
}

/** The trailer of a gzip member: CRC-32 and length (mod 2^32) of the uncompressed data, little-endian. */
function trailer (crc: number, length: number): Uint8Array {
  const out = Buffer.alloc(8)
  out.writeUInt32LE(crc >>> 0, 0)
  out.writeUInt32LE(length % 0x100000000, 4)
  return out
}

/**
 * Canonical zlib over a stream, in a worker thread of its own (canonical-worker.ts): pako is synchronous
 * JavaScript, several times slower than Node's zlib. Input goes in pieces of CANONICAL_INPUT_CHUNK, at most two
 * in flight (the next is read while one is deflated); the worker is ended with the stream, or when it is abandoned.
 */
async function * canonicalDeflate (s: DeflateSettings, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const { level, memLevel, windowBits, strategy } = s
  const worker = new Worker(new URL('./canonical-worker.js', import.meta.url), { workerData: { level, memLevel, windowBits, strategy, chunkSize: ZLIB_CHUNK } satisfies CanonicalSettings })
  const replies: Array<DeflateReply | Error> = []
  let wake: (() => void) | undefined
  const arrive = (r: DeflateReply | Error): void => { replies.push(r); wake?.() }
  worker.on('message', (r: DeflateReply) => { arrive(r) })
  worker.on('error', err => { arrive(err) })
  worker.on('exit', code => { arrive(new Error(`canonical deflate worker exited (${code})`)) })
  let pending = 0
  async function * collect (): AsyncGenerator<Uint8Array> {
    while (replies.length === 0) await new Promise<void>(resolve => { wake = resolve })
    wake = undefined
    const r = replies.shift()!
    if (r instanceof Error || r.error !== undefined) throw new ArchiveError('ERR_ARCHIVE_INVALID', `deflate: ${r instanceof Error ? r.message : r.error ?? ''}`)
    pending--
    yield * r.chunks ?? []
  }
  const send = (bytes: Uint8Array, last: boolean): void => {
    const copy = Uint8Array.from(bytes) // a buffer of its own, transferred
    worker.postMessage({ input: copy.buffer, last } satisfies DeflatePiece, [copy.buffer])
    pending++
  }
  try {
    for await (const chunk of source) {
      for (let at = 0; at < chunk.length; at += CANONICAL_INPUT_CHUNK) {
        send(chunk.subarray(at, at + CANONICAL_INPUT_CHUNK), false)
        while (pending >= 2) yield * collect()
      }
    }
    send(new Uint8Array(0), true)
    while (pending > 0) yield * collect()
  } finally {
    await worker.terminate()
  }
}

/** Raw deflate of a stream with `s`: Node's zlib on its thread pool, or canonical zlib. */
export function deflateStream (s: DeflateSettings, source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (s.compressor === 'canonical') return canonicalDeflate(s, source)
  const { level, memLevel, windowBits, strategy } = s
  return through(source, zlib.createDeflateRaw({ level, memLevel, windowBits, strategy, chunkSize: ZLIB_CHUNK }))
}

/** Rebuild a gzip file from its uncompressed stream and recipe: the header as found, raw deflate, the trailer. */
export async function * rebuildGzip (recipe: GzipRecipe, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield recipe.header
  let crc = 0
  let length = 0
  async function * tap (): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      crc = zlib.crc32(chunk, crc)
      length += chunk.length
      yield chunk
    }
  }
  yield * deflateStream(recipe, tap())
  yield trailer(crc, length)
}
