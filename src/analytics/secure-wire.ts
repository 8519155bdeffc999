import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { InvalidReportError } from '../errors.js'
import { MAX_COHORT, MAX_SECURE_MESSAGE_BYTES, QUANTITIES, type PeriodName } from './constants.js'
import { PERIOD_NAMES, periodStart } from './period.js'

/**
 * Messages of a secure aggregation round (secure-rounds.ts), all broadcast on SECURE_AGGREGATION_TOPIC, and the
 * community aggregate a completed round gives. A message names its sender only by the fresh X25519 key it announced
 * for the round: no peer id, no address. Self-mask shares travel encrypted to their recipient, so broadcast is fine.
 */
export type SecureMessage =
  /** Round 0: a fresh key for the round. */
  | { v: 1, t: 'key', round: string, key: Uint8Array }
  /** Round 0b: the digest of the sorted keys this node heard: nodes that disagree fall back before contributing. */
  | { v: 1, t: 'cohort', round: string, key: Uint8Array, cohort: Uint8Array }
  /** Round 1: y_i as 8 bytes a value (big-endian, mod 2^64) and a self-mask share for each member (null at i). */
  | { v: 1, t: 'contribution', round: string, key: Uint8Array, cohort: Uint8Array, masked: Uint8Array, shares: Array<Uint8Array | null> }
  /** Round 2: the survivors this node saw, its shares of their self masks (66 bytes), its masks with the others. */
  | { v: 1, t: 'recovery', round: string, key: Uint8Array, cohort: Uint8Array, survivors: number[], selfMaskShares: Array<[number, Uint8Array]>, correction: Uint8Array }

/** Values in a secure round: one per quantity, in QUANTITIES order. */
export const SECURE_VECTOR_LENGTH = QUANTITIES.length
const KEYS: Record<SecureMessage['t'], string[]> = {
  key: ['key', 'round', 't', 'v'],
  cohort: ['cohort', 'key', 'round', 't', 'v'],
  contribution: ['cohort', 'key', 'masked', 'round', 'shares', 't', 'v'],
  recovery: ['cohort', 'correction', 'key', 'round', 'selfMaskShares', 'survivors', 't', 'v']
}
const SHARE_BOX_BYTES = 12 + 66 + 16

function fail (what: string): never {
  throw new InvalidReportError(`secure aggregation message: ${what}`)
}

const bytes = (v: unknown, length: number): v is Uint8Array => v instanceof Uint8Array && v.length === length
const index = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v < MAX_COHORT

function exactKeys (o: Record<string, unknown>, keys: string[], what: string): void {
  const have = Object.keys(o).sort()
  if (have.length !== keys.length || have.some((k, i) => k !== keys[i])) throw new InvalidReportError(`${what} must have exactly the fields ${keys.join(', ')}`)
}

function decodeMap (data: Uint8Array, max: number, what: string): Record<string, unknown> {
  if (data.length > max) throw new InvalidReportError(`${what} of ${data.length} bytes exceeds ${max}`)
  let raw: unknown
  try {
    raw = dagCbor.decode(data)
  } catch (err) {
    throw new InvalidReportError(`${what} is not valid DAG-CBOR: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array || CID.asCID(raw) !== null) throw new InvalidReportError(`${what} must be a map`)
  const again = dagCbor.encode(raw)
  if (again.length !== data.length || again.some((b, i) => b !== data[i])) throw new InvalidReportError(`${what} is not canonically encoded`)
  return raw as Record<string, unknown>
}

export function encodeSecureMessage (m: SecureMessage): Uint8Array {
  const data = dagCbor.encode(m)
  if (data.length > MAX_SECURE_MESSAGE_BYTES) throw new InvalidReportError(`secure aggregation message of ${data.length} bytes exceeds ${MAX_SECURE_MESSAGE_BYTES}`)
  return data
}

/**
 * Decode a round message strictly: canonical DAG-CBOR of at most MAX_SECURE_MESSAGE_BYTES, exactly the fields of
 * its type, 32-byte keys and digests, vectors of SECURE_VECTOR_LENGTH values, at most MAX_COHORT shares, indices
 * in order. Anything else is ERR_INVALID_REPORT.
 */
export function decodeSecureMessage (data: Uint8Array): SecureMessage {
  const o = decodeMap(data, MAX_SECURE_MESSAGE_BYTES, 'secure aggregation message')
  if (o.v !== 1) fail('unknown version')
  if (typeof o.t !== 'string' || !(o.t in KEYS)) fail('unknown type')
  exactKeys(o, KEYS[o.t as SecureMessage['t']], `secure aggregation ${o.t}`)
  if (typeof o.round !== 'string' || o.round.length === 0 || o.round.length > 128) fail('round must be a string of 1 to 128 characters')
  if (!bytes(o.key, 32)) fail('key must be 32 bytes')
  if (o.t === 'key') return o as unknown as SecureMessage
  if (!bytes(o.cohort, 32)) fail('cohort must be a 32-byte digest')
  if (o.t === 'cohort') return o as unknown as SecureMessage
  if (o.t === 'contribution') {
    if (!bytes(o.masked, 8 * SECURE_VECTOR_LENGTH)) fail(`masked must be ${8 * SECURE_VECTOR_LENGTH} bytes`)
    if (!Array.isArray(o.shares) || o.shares.length < 2 || o.shares.length > MAX_COHORT) fail(`shares must be a list of 2 to ${MAX_COHORT}`)
    if ((o.shares as unknown[]).filter(s => s === null).length !== 1) fail('shares must hold one null, at the sender')
    for (const s of o.shares as unknown[]) if (s !== null && !bytes(s, SHARE_BOX_BYTES)) fail(`a share must be ${SHARE_BOX_BYTES} bytes`)
    return o as unknown as SecureMessage
  }
  if (!bytes(o.correction, 8 * SECURE_VECTOR_LENGTH)) fail(`correction must be ${8 * SECURE_VECTOR_LENGTH} bytes`)
  if (!Array.isArray(o.survivors) || o.survivors.length < 2 || o.survivors.length > MAX_COHORT) fail(`survivors must be a list of 2 to ${MAX_COHORT}`)
  let last = -1
  for (const s of o.survivors as unknown[]) {
    if (!index(s) || s <= last) fail('survivors must be cohort indices in increasing order')
    last = s
  }
  if (!Array.isArray(o.selfMaskShares) || o.selfMaskShares.length > o.survivors.length) fail('selfMaskShares must be a list of at most one per survivor')
  last = -1
  for (const e of o.selfMaskShares as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || !index(e[0]) || e[0] <= last || !bytes(e[1], 66)) fail('selfMaskShares must be [index, 66 bytes] in increasing order')
    last = e[0]
  }
  return o as unknown as SecureMessage
}

/**
 * The community's figures for one period from a completed round: the sum of the contributors' clamped figures plus
 * one draw of noise (each of `contributors` nodes added a share cut for `threshold`, so the noise of each value is
 * discrete Laplace of its scale, its variance times contributors / threshold). Computed by every node from the
 * round's broadcasts, so two nodes computing it hold the same record (same id).
 */
export interface SecureAggregate {
  v: 1
  kind: 'secure-sum'
  /** First 16 bytes of sha256(round, cohort digest, survivors): the same on every node that computed it. */
  id: Uint8Array
  period: PeriodName
  start: number
  /** Epsilon each contributor spent on the period. */
  epsilon: number
  /** Nodes whose figures are in the sum, the cohort's size, and the Shamir threshold the noise shares were cut for. */
  contributors: number
  cohort: number
  threshold: number
  values: Record<string, number>
  scales: Record<string, number>
  /** Sum of the contributors' caps per value: the most the true sum can be (clamping costs no privacy). */
  maxima: Record<string, number>
}

const AGGREGATE_KEYS = ['cohort', 'contributors', 'epsilon', 'id', 'kind', 'maxima', 'period', 'scales', 'start', 'threshold', 'v', 'values']
const VALUE_KEYS = QUANTITIES.map(q => q.key).sort()
const MAX_AGGREGATE_BYTES = 4096

export function encodeAggregate (a: SecureAggregate): Uint8Array {
  return dagCbor.encode(a)
}

/** Decode a stored community aggregate strictly (ERR_INVALID_REPORT). */
export function decodeAggregate (data: Uint8Array): SecureAggregate {
  const o = decodeMap(data, MAX_AGGREGATE_BYTES, 'secure aggregate')
  exactKeys(o, AGGREGATE_KEYS, 'secure aggregate')
  if (o.v !== 1 || o.kind !== 'secure-sum') throw new InvalidReportError('unknown secure aggregate version')
  if (!bytes(o.id, 16)) throw new InvalidReportError('secure aggregate id must be 16 bytes')
  if (typeof o.period !== 'string' || !(PERIOD_NAMES as readonly string[]).includes(o.period)) throw new InvalidReportError('unknown period')
  if (typeof o.start !== 'number' || periodStart(o.period as PeriodName, o.start) !== o.start) throw new InvalidReportError('start must be the start of a period')
  if (typeof o.epsilon !== 'number' || !(o.epsilon > 0) || o.epsilon > 100) throw new InvalidReportError('epsilon must be > 0 and <= 100')
  for (const k of ['contributors', 'cohort', 'threshold'] as const) if (!Number.isSafeInteger(o[k]) || (o[k] as number) < 2 || (o[k] as number) > MAX_COHORT) throw new InvalidReportError(`${k} must be from 2 to ${MAX_COHORT}`)
  for (const field of ['values', 'scales', 'maxima'] as const) {
    const m = o[field]
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new InvalidReportError(`${field} must be a map`)
    exactKeys(m as Record<string, unknown>, VALUE_KEYS, field)
    for (const v of Object.values(m as Record<string, unknown>)) if (typeof v !== 'number' || !Number.isFinite(v) || (field !== 'values' && v <= 0)) throw new InvalidReportError(`${field} must hold finite numbers`)
  }
  return o as unknown as SecureAggregate
}
