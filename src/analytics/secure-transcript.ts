import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { InvalidReportError, SecureAggregationError } from '../errors.js'
import { MAX_COHORT, MAX_TRANSCRIPT_BYTES, QUANTITIES, type PeriodName } from './constants.js'
import { minimumContributors } from './noise-shares.js'
import { PERIOD_NAMES, periodStart } from './period.js'
import { unmaskSum } from './secure-aggregation.js'
import type { SecureAggregate } from './secure-wire.js'

/**
 * The transcript of a completed secure round: what a node that missed the round's broadcasts needs to compute the
 * community sum itself (unmaskSum), and nothing else: the cohort's sorted keys, the survivors' masked vectors and the
 * recoveries used. Exchanged by anti-entropy (holdings keyed by period start and the transcript's id, the first 16
 * bytes of sha256 of its canonical encoding); a receiving node never takes a sum it is told, it unmasks it.
 */
export interface SecureTranscript {
  v: 1
  kind: 'secure-transcript'
  round: string
  /** The cohort: sorted X25519 keys, 2 to MAX_COHORT. */
  keys: Uint8Array[]
  /** [cohort index, masked vector (8 bytes a value)] of each survivor, in index order. */
  contributions: Array<[number, Uint8Array]>
  /** [cohort index, [[survivor index, 66-byte self-mask share]], correction] of each recovery used, in index order. */
  recoveries: Array<[number, Array<[number, Uint8Array]>, Uint8Array]>
}

/** What the receiving node's policy makes of the round's period: the round name it would use and the figures' bounds. */
export interface TranscriptSpec {
  period: PeriodName
  start: number
  epsilon: number
  /** Scale of the community noise in each figure (cap / its epsilon), by quantity key. */
  scales: Record<string, number>
  /** This node's cap of each figure (the aggregate's maxima are their sum over the contributors). */
  caps: Record<string, number>
}

const VECTOR_BYTES = 8 * QUANTITIES.length
const MOD = 1n << 64n
/** Round names as roundName makes them (period:start:epsilon:digest of the other parameters). */
export const ROUND_NAME = /^(hour|day|week|month):\d{1,15}:\d+(\.\d+)?(e-?\d+)?:[0-9a-f]{16}$/
/**
 * A sum is refused when a value lies further than this many noise scales (times contributors / threshold) outside
 * [0, maxima]: the community noise is one discrete Laplace draw of that scale (a bit more with extra contributors),
 * so an honest sum is out of it with probability about e^-64, and a changed masked word lands out almost surely.
 */
const NOISE_BOUND_SCALES = 64

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export function vectorBytes (v: bigint[]): Uint8Array {
  const out = Buffer.alloc(8 * v.length)
  v.forEach((x, i) => out.writeBigUInt64BE(((x % MOD) + MOD) % MOD, 8 * i))
  return new Uint8Array(out)
}

export function bytesVector (b: Uint8Array): bigint[] {
  const buf = Buffer.from(b)
  return Array.from({ length: b.length / 8 }, (_, i) => buf.readBigUInt64BE(8 * i))
}

export const bigBytes = (n: bigint, length: number): Uint8Array => new Uint8Array(Buffer.from(n.toString(16).padStart(length * 2, '0'), 'hex'))
export const bytesBig = (b: Uint8Array): bigint => BigInt('0x' + (hex(b) || '0'))

function fail (what: string): never {
  throw new InvalidReportError(`secure sum transcript: ${what}`)
}

const isBytes = (v: unknown, length: number): v is Uint8Array => v instanceof Uint8Array && v.length === length
const isIndex = (v: unknown, below: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v < below
const KEYS = ['contributions', 'keys', 'kind', 'recoveries', 'round', 'v']

export function encodeTranscript (t: SecureTranscript): Uint8Array {
  const data = dagCbor.encode(t)
  if (data.length > MAX_TRANSCRIPT_BYTES) fail(`${data.length} bytes exceeds ${MAX_TRANSCRIPT_BYTES}`)
  return data
}

/** A transcript's id: the first 16 bytes of sha256 of its canonical encoding. */
export function transcriptId (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest().subarray(0, 16))
}

/** The period, start and epsilon a round name stands for. */
export function parseRoundName (round: string): { period: PeriodName, start: number, epsilon: number } {
  if (!ROUND_NAME.test(round)) fail('not a round name')
  const [period, start, epsilon] = round.split(':') as [PeriodName, string, string]
  const s = Number(start)
  const e = Number(epsilon)
  if (!(PERIOD_NAMES as readonly string[]).includes(period) || periodStart(period, s) !== s) fail('the round\'s start is not the start of a period')
  if (!(e > 0) || e > 100) fail('the round\'s epsilon must be > 0 and <= 100')
  return { period, start: s, epsilon: e }
}

function increasing<T extends unknown[]> (list: unknown, max: number, below: number, entry: (e: unknown[]) => boolean, what: string): T[] {
  if (!Array.isArray(list) || list.length > max) fail(`${what} must be a list of at most ${max}`)
  let last = -1
  for (const e of list as unknown[]) {
    if (!Array.isArray(e) || !isIndex(e[0], below) || e[0] <= last || !entry(e)) fail(`malformed ${what} entry (indices in increasing order)`)
    last = e[0]
  }
  return list as T[]
}

/**
 * Decode a transcript strictly: canonical DAG-CBOR of at most MAX_TRANSCRIPT_BYTES, exactly its fields, a round name
 * as roundName makes them, 2 to MAX_COHORT sorted 32-byte keys, vectors of the round's length, 66-byte shares, every
 * index in the cohort and in increasing order, recoveries only from survivors. Anything else is ERR_INVALID_REPORT.
 */
export function decodeTranscript (data: Uint8Array): SecureTranscript {
  if (data.length > MAX_TRANSCRIPT_BYTES) fail(`${data.length} bytes exceeds ${MAX_TRANSCRIPT_BYTES}`)
  let o: unknown
  try {
    o = dagCbor.decode(data)
  } catch (err) {
    fail(`not valid DAG-CBOR: ${(err as Error).message}`)
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || o instanceof Uint8Array || CID.asCID(o) !== null) fail('must be a map')
  const again = dagCbor.encode(o)
  if (again.length !== data.length || again.some((b, i) => b !== data[i])) fail('not canonically encoded')
  const t = o as Record<string, unknown>
  const have = Object.keys(t).sort()
  if (have.length !== KEYS.length || have.some((k, i) => k !== KEYS[i])) fail(`must have exactly the fields ${KEYS.join(', ')}`)
  if (t.v !== 1 || t.kind !== 'secure-transcript') fail('unknown version')
  if (typeof t.round !== 'string' || !ROUND_NAME.test(t.round)) fail('not a round name')
  const keys = t.keys
  if (!Array.isArray(keys) || keys.length < 2 || keys.length > MAX_COHORT || !keys.every(k => isBytes(k, 32))) fail(`keys must be 2 to ${MAX_COHORT} keys of 32 bytes`)
  for (let k = 1; k < keys.length; k++) if (Buffer.compare(keys[k - 1] as Uint8Array, keys[k] as Uint8Array) >= 0) fail('keys must be sorted, each once')
  const n = keys.length
  const contributions = increasing<[number, Uint8Array]>(t.contributions, n, n, e => e.length === 2 && isBytes(e[1], VECTOR_BYTES), 'contributions')
  const survivors = new Set(contributions.map(([i]) => i))
  const recoveries = increasing<[number, Array<[number, Uint8Array]>, Uint8Array]>(t.recoveries, n, n, e => e.length === 3 && survivors.has(e[0] as number) &&
    isBytes(e[2], VECTOR_BYTES) && Array.isArray(increasing(e[1], n, n, s => s.length === 2 && survivors.has(s[0] as number) && isBytes(s[1], 66), 'self-mask shares')), 'recoveries')
  return { v: 1, kind: 'secure-transcript', round: t.round, keys: keys as Uint8Array[], contributions, recoveries }
}

/**
 * The community aggregate a round gives, as every node that computed it holds it: the same id (round, cohort digest,
 * survivors), the sum, and the bounds of `spec` (the computing node's own policy for the round).
 */
export function roundAggregate (round: string, keys: Uint8Array[], survivors: number[], sum: number[], spec: TranscriptSpec): SecureAggregate {
  const digest = createHash('sha256').update(Buffer.concat(keys)).digest()
  const id = createHash('sha256').update(round).update(digest).update(survivors.join()).digest().subarray(0, 16)
  const record = (f: (key: string) => number): Record<string, number> => Object.fromEntries(QUANTITIES.map(q => [q.key, f(q.key)]))
  return {
    v: 1,
    kind: 'secure-sum',
    id: new Uint8Array(id),
    period: spec.period,
    start: spec.start,
    epsilon: spec.epsilon,
    contributors: survivors.length,
    cohort: keys.length,
    threshold: minimumContributors(keys.length),
    values: record(k => sum[QUANTITIES.findIndex(q => q.key === k)]!),
    scales: record(k => spec.scales[k]!),
    maxima: record(k => spec.caps[k]! * survivors.length)
  }
}

/**
 * Recompute a round's sum from its transcript (never a sum told), with the bounds of the receiving node's policy
 * for the round (`spec`, whose round name the caller checked). A transcript that does not unmask (too few
 * recoveries, a share that does not rebuild a self mask, a value outside what the figures and the noise allow:
 * a changed masked word) is ERR_INVALID_REPORT.
 */
export function unmaskTranscript (t: SecureTranscript, spec: TranscriptSpec): SecureAggregate {
  const threshold = minimumContributors(t.keys.length)
  let sum: number[]
  try {
    sum = unmaskSum(
      t.contributions.map(([from, masked]) => ({ from, masked: bytesVector(masked), shares: [] })),
      t.recoveries.map(([from, shares, correction]) => ({
        from,
        selfMaskShares: shares.map(([j, y]): [number, bigint] => [j, bytesBig(y)]),
        correction: bytesVector(correction)
      })),
      QUANTITIES.length, threshold)
  } catch (err) {
    if (err instanceof SecureAggregationError) fail(`does not unmask: ${err.message}`)
    throw err
  }
  const survivors = t.contributions.map(([i]) => i)
  const aggregate = roundAggregate(t.round, t.keys, survivors, sum, spec)
  const spread = NOISE_BOUND_SCALES * Math.max(1, survivors.length / threshold)
  for (const q of QUANTITIES) {
    const v = aggregate.values[q.key]!
    const slack = spread * aggregate.scales[q.key]!
    if (v < -slack || v > aggregate.maxima[q.key]! + slack) fail(`does not unmask: ${q.key} comes out at ${v}, outside what ${survivors.length} nodes' figures and the noise allow`)
  }
  return aggregate
}
