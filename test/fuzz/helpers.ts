/**
 * What the fuzz properties share: the check that a decoder either returns or refuses with a typed error (and in
 * bounded time and memory), byte-level mutations of valid encodings, arbitrary CIDs, a normal form for
 * comparing decoded values.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { CmeshError } from '../../src/errors.js'
import { DECODE_CPU_LIMIT_MS } from './settings.js'

export type Outcome<T> = { ok: true, value: T } | { ok: false, error: CmeshError }

function describeError (err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}${(err as { code?: unknown }).code !== undefined ? ` [${String((err as { code?: unknown }).code)}]` : ''}: ${err.message}\n${err.stack ?? ''}`
  return `a thrown non-error: ${String(err)}`
}

/** Assert that `err` is a CmeshError whose code is one of `codes` (any code when `codes` is empty). */
export function assertTyped (err: unknown, codes: readonly string[], what = 'the decoder'): asserts err is CmeshError {
  if (!(err instanceof CmeshError) || typeof err.code !== 'string') {
    assert.fail(`${what} threw an untyped error (not a CmeshError with a code): ${describeError(err)}`)
  }
  if (codes.length > 0 && !codes.includes(err.code)) {
    assert.fail(`${what} threw ${err.code}, expected one of ${codes.join(', ')}: ${describeError(err)}`)
  }
}

/** CPU time this thread has spent (ms): what a computation costs, however busy the machine is with others. */
export function cpuMs (): number {
  const { user, system } = process.threadCpuUsage()
  return (user + system) / 1000
}

function checkTime (started: number, what: string): void {
  const ms = cpuMs() - started
  if (ms > DECODE_CPU_LIMIT_MS) assert.fail(`${what} spent ${ms.toFixed(0)} ms of CPU on one input (limit ${DECODE_CPU_LIMIT_MS} ms)`)
}

/** Memory a decoder may take for one input of a few KiB: far above what decoding it needs, far below 2^30. */
export const DECODE_MEMORY_LIMIT_BYTES = 64 * 1024 * 1024

/**
 * Run a decoder on one input: it returns (ok) or throws a CmeshError with one of `codes`; anything else
 * (TypeError, RangeError, a plain Error from a library) fails the property, and so does a call that spends more
 * CPU than DECODE_CPU_LIMIT_MS or one after which more than DECODE_MEMORY_LIMIT_BYTES are held (a length field's
 * declared size allocated instead of refused).
 */
export function decodeOrRefuse<T> (decode: () => T, codes: readonly string[], what = 'the decoder'): Outcome<T> {
  return assertSmallAllocation(() => {
    const started = cpuMs()
    try {
      const value = decode()
      checkTime(started, what)
      return { ok: true, value }
    } catch (err) {
      checkTime(started, what)
      assertTyped(err, codes, what)
      return { ok: false, error: err }
    }
  }, DECODE_MEMORY_LIMIT_BYTES, what)
}

/** decodeOrRefuse for asynchronous decoders. */
export async function decodeOrRefuseAsync<T> (decode: () => Promise<T>, codes: readonly string[], what = 'the decoder'): Promise<Outcome<T>> {
  const started = cpuMs()
  try {
    const value = await decode()
    checkTime(started, what)
    return { ok: true, value }
  } catch (err) {
    checkTime(started, what)
    assertTyped(err, codes, what)
    return { ok: false, error: err }
  }
}

/** Hex, for messages and comparisons of bytes. */
export function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Assert two byte strings are equal, showing both in hex when they are not. */
export function assertSameBytes (actual: Uint8Array, expected: Uint8Array, message: string): void {
  if (actual.length !== expected.length || !actual.every((b, i) => b === expected[i])) {
    assert.fail(`${message}\n  got      ${hex(actual)}\n  expected ${hex(expected)}`)
  }
}

/**
 * A value in a form deepStrictEqual compares by content: CIDs as their string, bytes as hex (CID objects carry
 * caches, and byte arrays decoded from a larger buffer are views of it).
 */
export function plain (value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  const cid = CID.asCID(value)
  if (cid !== null) return { cid: cid.toString() }
  if (value instanceof Uint8Array) return { bytes: hex(value) }
  if (Array.isArray(value)) return value.map(plain)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v)
  return out
}

// --- arbitrary CIDs ---

const CODECS = [0x55, 0x71, 0x70] // raw, dag-cbor, dag-pb
const HASHES: Array<[number, number]> = [[0x1e, 32], [0x12, 32]] // blake3, sha2-256

/** CIDv1 of the codecs and hashes cmesh holds (random digests: what a peer may name), and now and then a CIDv0. */
export const cidArb: fc.Arbitrary<CID> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.tuple(
      fc.constantFrom(...CODECS),
      fc.constantFrom(...HASHES),
      fc.uint8Array({ minLength: 32, maxLength: 32 })
    ).map(([codec, [code], digest]) => CID.create(1, codec, Digest.create(code, digest)))
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(digest => CID.create(0, 0x70, Digest.create(0x12, digest)) as unknown as CID) }
)

// --- byte-level mutations ---

/** Byte sequences that mean much to CBOR, varints and CID prefixes: huge length headers, breaks, tags. */
const INTERESTING: Uint8Array[] = [
  [0x00], [0xff], [0x7f], [0x80], [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x5b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], [0xbb, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x7a, 0x7f, 0xff, 0xff, 0xff],
  [0x9f], [0xbf], [0xd8, 0x2a], [0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], [0xf9, 0x7c, 0x00], [0xf7], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
].map(a => Uint8Array.from(a))

export type Mutation =
  | { op: 'flip', at: number, bit: number }
  | { op: 'set', at: number, byte: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'delete', at: number, length: number }
  | { op: 'duplicate', at: number, length: number }
  | { op: 'truncate', at: number }
  | { op: 'interesting', at: number, which: number, overwrite: boolean }

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('interesting' as const), at: fc.nat(), which: fc.nat({ max: INTERESTING.length - 1 }), overwrite: fc.boolean() })
)

/** Apply mutations in order (positions taken modulo the current length, so every mutation applies). */
export function mutate (input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(input)
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length
    switch (m.op) {
      case 'flip':
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit)
        break
      case 'set':
        if (b.length > 0) b[at] = m.byte
        break
      case 'insert':
        b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)])
        break
      case 'delete':
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.length)])
        break
      case 'duplicate':
        b = Uint8Array.from([...b.subarray(0, at + m.length), ...b.subarray(at, at + m.length), ...b.subarray(at + m.length)])
        break
      case 'truncate':
        b = b.subarray(0, at)
        break
      case 'interesting': {
        const x = INTERESTING[m.which]!
        b = m.overwrite
          ? Uint8Array.from([...b.subarray(0, at), ...x, ...b.subarray(at + x.length)])
          : Uint8Array.from([...b.subarray(0, at), ...x, ...b.subarray(at)])
        break
      }
    }
  }
  return b
}

/** Valid encodings from `valid`, each with 1-4 mutations applied (the pair, so a failure shows the original). */
export function mutatedFrom (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<{ original: Uint8Array, mutations: Mutation[], bytes: Uint8Array }> {
  return fc.tuple(valid, fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
    .map(([original, mutations]) => ({ original, mutations, bytes: mutate(original, mutations) }))
}

/** Arbitrary bytes up to a few KiB: mostly random, some that start like a CBOR map (so decoding gets further). */
export const arbitraryBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  fc.tuple(fc.integer({ min: 0xa0, max: 0xbb }), fc.uint8Array({ maxLength: 512 })).map(([head, rest]) => Uint8Array.from([head, ...rest]))
)

// --- memory ---

/**
 * Run `fn` and assert that memory held right after it grew by less than `maxBytes` (array buffers and heap):
 * a decoder that allocates what a length field declares (a 2^30-byte buffer, a 2^30-slot array) shows here.
 */
export function assertSmallAllocation<T> (fn: () => T, maxBytes: number, what: string): T {
  const before = process.memoryUsage()
  const result = fn()
  const after = process.memoryUsage()
  const grew = (after.arrayBuffers - before.arrayBuffers) + (after.heapUsed - before.heapUsed)
  if (grew > maxBytes) assert.fail(`${what}: memory grew by ${(grew / 1048576).toFixed(1)} MiB (limit ${(maxBytes / 1048576).toFixed(1)} MiB)`)
  return result
}
