import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { InvalidReportError } from '../errors.js'
import { MAX_POPULARITY_ENTRIES, MAX_REPORT_BYTES, QUANTITIES, type PeriodName } from './constants.js'
import { PERIOD_NAMES, periodStart } from './period.js'

/**
 * One node's differentially private aggregate for one period, as it travels on the analytics topic. It holds
 * no peer id, address or signature: only a random id (fresh for every release, so releases cannot be linked),
 * the period, the epsilon spent, noisy counts with the scale of the noise in each, and noisy bits for the
 * public resources of the node's collections.
 */
export interface AnalyticsReport {
  v: 1
  /** 16 random bytes: tells copies of one release apart from other releases. */
  id: Uint8Array
  period: PeriodName
  /** Period start, ms since the epoch (UTC). */
  start: number
  /** Epsilon this release spent. */
  epsilon: number
  /** Noisy value of each quantity (QUANTITIES keys), an integer, possibly negative. */
  values: Record<string, number>
  /** Scale of the discrete Laplace noise in each value (sensitivity / epsilon share): gives error bars. */
  scales: Record<string, number>
  /** [resource root CID, noisy 0/1] for the resources reported on, sorted by root. */
  popular: Array<[string, number]>
  /** Scale of the noise in each popularity entry. */
  popularScale: number
}

const TOP_KEYS = ['epsilon', 'id', 'period', 'popular', 'popularScale', 'scales', 'start', 'v', 'values']
const VALUE_KEYS = QUANTITIES.map(q => q.key).sort()
const MAX_VALUE = 1e12
const MAX_SCALE = 1e9

export function encodeReport (r: AnalyticsReport): Uint8Array {
  const bytes = dagCbor.encode(r)
  if (bytes.length > MAX_REPORT_BYTES) throw new InvalidReportError(`report of ${bytes.length} bytes exceeds ${MAX_REPORT_BYTES}`)
  return bytes
}

function object (v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array || CID.asCID(v) !== null) throw new InvalidReportError(`${what} must be a map`)
  return v as Record<string, unknown>
}

function exactKeys (o: Record<string, unknown>, keys: string[], what: string): void {
  const have = Object.keys(o).sort()
  if (have.length !== keys.length || have.some((k, i) => k !== keys[i])) throw new InvalidReportError(`${what} must have exactly the fields ${keys.join(', ')}`)
}

const integer = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) <= MAX_VALUE
const scale = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_SCALE

/**
 * Decode an aggregate strictly: canonical DAG-CBOR of at most MAX_REPORT_BYTES, exactly the known fields,
 * integers in range, positive finite noise scales, a period start on a period boundary, at most
 * MAX_POPULARITY_ENTRIES distinct valid CIDs in order. Anything else is ERR_INVALID_REPORT.
 */
export function decodeReport (bytes: Uint8Array): AnalyticsReport {
  if (bytes.length > MAX_REPORT_BYTES) throw new InvalidReportError(`report of ${bytes.length} bytes exceeds ${MAX_REPORT_BYTES}`)
  let raw: unknown
  try {
    raw = dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidReportError(`report is not valid DAG-CBOR: ${(err as Error).message}`)
  }
  const o = object(raw, 'report')
  exactKeys(o, TOP_KEYS, 'report')
  if (o.v !== 1) throw new InvalidReportError('unknown report version')
  if (!(o.id instanceof Uint8Array) || o.id.length !== 16) throw new InvalidReportError('report id must be 16 bytes')
  if (typeof o.period !== 'string' || !(PERIOD_NAMES as readonly string[]).includes(o.period)) throw new InvalidReportError('unknown period')
  const period = o.period as PeriodName
  if (typeof o.start !== 'number' || !Number.isSafeInteger(o.start) || o.start < 0 || periodStart(period, o.start) !== o.start) throw new InvalidReportError('start must be the start of a period')
  if (!scale(o.epsilon) || o.epsilon > 100) throw new InvalidReportError('epsilon must be > 0 and <= 100')
  const values = object(o.values, 'values')
  const scales = object(o.scales, 'scales')
  exactKeys(values, VALUE_KEYS, 'values')
  exactKeys(scales, VALUE_KEYS, 'scales')
  for (const k of VALUE_KEYS) {
    if (!integer(values[k])) throw new InvalidReportError(`value ${k} must be an integer of at most ${MAX_VALUE}`)
    if (!scale(scales[k])) throw new InvalidReportError(`scale ${k} must be > 0 and <= ${MAX_SCALE}`)
  }
  if (!scale(o.popularScale)) throw new InvalidReportError(`popularScale must be > 0 and <= ${MAX_SCALE}`)
  if (!Array.isArray(o.popular) || o.popular.length > MAX_POPULARITY_ENTRIES) throw new InvalidReportError(`popular must be a list of at most ${MAX_POPULARITY_ENTRIES} entries`)
  let last = ''
  for (const e of o.popular as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || e[0].length > 128 || !integer(e[1])) throw new InvalidReportError('popular entries must be [root, integer]')
    if (e[0] <= last) throw new InvalidReportError('popular entries must be sorted by root, each once')
    try {
      if (CID.parse(e[0]).toString() !== e[0]) throw new Error('not in its canonical form')
    } catch (err) {
      throw new InvalidReportError(`popular root ${JSON.stringify(e[0])} is not a CID: ${(err as Error).message}`)
    }
    last = e[0]
  }
  const report = o as unknown as AnalyticsReport
  const again = dagCbor.encode(report)
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i])) throw new InvalidReportError('report is not canonically encoded')
  return report
}
