import { createHash } from 'node:crypto'
import type { Database } from 'lmdb'
import { MAX_REPORTS_HELD, MAX_REPORTS_PER_PERIOD } from './constants.js'
import { decodeReport, type AnalyticsReport } from './wire.js'

/** What a node says it holds of one release period: its start, how many releases, and a digest of their ids. */
export type PeriodSummary = [start: number, count: number, digest: Uint8Array]

const pad = (start: number): string => String(start).padStart(15, '0')

/**
 * The releases a node holds (its own and those heard), on disk in `<repo>/metrics.mdb`, keyed by period start and
 * release id. Bounded: at most MAX_REPORTS_PER_PERIOD a period and MAX_REPORTS_HELD in all (the oldest period
 * goes first), so a flood of made-up releases cannot fill the disk.
 */
export class ReleaseHoldings {
  private readonly perPeriod: number
  private readonly held: number

  constructor (private readonly db: Database<Uint8Array, string>, limits: { perPeriod?: number, held?: number } = {}) {
    this.perPeriod = limits.perPeriod ?? MAX_REPORTS_PER_PERIOD
    this.held = limits.held ?? MAX_REPORTS_HELD
  }

  /** Store a checked release, or any item held by period start and id (decoded and verified by the caller). */
  keep (bytes: Uint8Array, report: Pick<AnalyticsReport, 'start' | 'id'>): 'stored' | 'duplicate' | 'full' {
    const prefix = `${pad(report.start)}:`
    const key = prefix + Buffer.from(report.id).toString('hex')
    if (this.db.get(key) !== undefined) return 'duplicate'
    if (this.count(prefix) >= this.perPeriod) return 'full'
    if ((this.db.getStats() as { entryCount: number }).entryCount >= this.held) {
      const [oldest] = [...this.db.getKeys({ limit: 1 })]
      // the newest periods are kept: a release older than everything held is refused rather than stored
      if (oldest === undefined || oldest.slice(0, 15) >= pad(report.start)) return 'full'
      this.dropPeriod(Number(oldest.slice(0, 15)))
    }
    this.db.putSync(key, bytes)
    return 'stored'
  }

  private count (prefix: string): number {
    let n = 0
    for (const _ of this.db.getKeys({ start: prefix, end: prefix + '~', limit: this.perPeriod })) n++
    return n
  }

  private dropPeriod (start: number): void {
    const prefix = `${pad(start)}:`
    for (const key of [...this.db.getKeys({ start: prefix, end: prefix + '~' })]) this.db.removeSync(key)
  }

  /** Forget every release of a period starting before `before` (ms). */
  prune (before: number): number {
    let n = 0
    for (const key of [...this.db.getKeys({ end: `${pad(before)}:` })]) {
      this.db.removeSync(key)
      n++
    }
    return n
  }

  /** The periods held, newest first (at most `limit`), each with its count and a digest of its sorted ids. */
  summary (limit: number): PeriodSummary[] {
    const out: PeriodSummary[] = []
    let start = -1
    let count = 0
    let hash = createHash('sha256')
    const flush = (): void => { if (start >= 0) out.push([start, count, hash.digest().subarray(0, 16)]) }
    for (const key of this.db.getKeys({ reverse: true })) {
      const s = Number(key.slice(0, 15))
      if (s !== start) {
        flush()
        if (out.length >= limit) return out
        start = s
        count = 0
        hash = createHash('sha256')
      }
      // reverse order: the digest is over ids newest key first, the same on every node holding the same set
      hash.update(Buffer.from(key.slice(16), 'hex'))
      count++
    }
    flush()
    return out.slice(0, limit)
  }

  /** Ids of the releases held for the period starting at `start` (at most MAX_REPORTS_PER_PERIOD). */
  ids (start: number): Uint8Array[] {
    const prefix = `${pad(start)}:`
    return [...this.db.getKeys({ start: prefix, end: prefix + '~', limit: MAX_REPORTS_PER_PERIOD })].map(k => Buffer.from(k.slice(16), 'hex'))
  }

  /** The encoded release of period `start` with this id, if held. */
  get (start: number, id: Uint8Array): Uint8Array | undefined {
    return this.db.get(`${pad(start)}:${Buffer.from(id).toString('hex')}`)
  }

  /** Every release held that still decodes. */
  all (): AnalyticsReport[] {
    const out: AnalyticsReport[] = []
    for (const { value } of this.db.getRange({})) {
      try {
        out.push(decodeReport(value))
      } catch {}
    }
    return out
  }
}
