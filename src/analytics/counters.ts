import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import { InvalidOptionError } from '../errors.js'
import { HOUR_MS } from './period.js'
import { repoPath } from '../repo/index.js'

/** What other components use to count: `node.metrics.count('cache.hits')`. */
export interface Metrics {
  /** Add `n` (default 1, must be > 0) to a counter of this hour and of the node's lifetime. */
  count: (name: string, n?: number) => void
  /** Record a level (peers connected); a period keeps the largest value seen. */
  gauge: (name: string, value: number) => void
  /** Note that this node requested the resource under `root` this hour (kept in this node's LMDB only). */
  resource: (root: string) => void
}

/** Metrics that count nothing: analytics off. */
export const NO_METRICS: Metrics = { count: () => {}, gauge: () => {}, resource: () => {} }

const NAME = /^[a-z][a-z0-9_.]{0,63}$/
/** Resources requested are forgotten after this long (ms): no report needs them later. */
const RESOURCE_RETENTION_MS = 40 * 24 * HOUR_MS
const pad = (n: number): string => String(n).padStart(15, '0')

interface Hour { hour: number, counts: Map<string, number>, gauges: Map<string, number>, resources: Set<string> }

/**
 * The node's own counters, in `<repo>/metrics.mdb` (an LMDB environment apart from the block store):
 *   counters  `h:<hour>:<name>` -> count in that hour; `t:<name>` -> lifetime total; `g:<hour>:<name>` -> gauge max
 *   resources `<hour>:<root>` -> 1 (what this node requested; never leaves the node, forgotten after 40 days)
 *   ledger    `spent:<period start>`, `spent:lifetime` -> epsilon spent
 *   reports   `<period start>:<id>` -> an encoded community aggregate (own or heard over gossip)
 *   meta      `firstHour` -> the hour this node first counted
 * Counting touches only a Map: the hour's counts are written in one transaction by flush() (every few seconds).
 */
export class MetricsStore implements Metrics {
  private readonly env: RootDatabase
  private readonly counters: Database<number, string>
  private readonly resourcesDb: Database<number, string>
  readonly ledger: Database<number, string>
  readonly reportsDb: Database<Uint8Array, string>
  /** Community aggregates of secure rounds this node computed, by `<period start>:<id>`. */
  readonly aggregatesDb: Database<Uint8Array, string>
  /** Transcripts of secure rounds (computed here or received), by `<period start>:<id>`: exchanged by anti-entropy. */
  readonly transcriptsDb: Database<Uint8Array, string>
  private readonly meta: Database<number, string>
  private current: Hour
  private sealed: Hour[] = []
  private readonly known = new Set<string>()
  private closed = false

  constructor (repo: string, private readonly now: () => number = Date.now) {
    mkdirSync(repo, { recursive: true })
    this.env = open({ path: repoPath(repo, 'metrics'), maxDbs: 8, noMetaSync: true, compression: false })
    this.counters = this.env.openDB({ name: 'counters' })
    this.resourcesDb = this.env.openDB({ name: 'resources' })
    this.ledger = this.env.openDB({ name: 'ledger' })
    this.reportsDb = this.env.openDB({ name: 'reports', encoding: 'binary' })
    this.aggregatesDb = this.env.openDB({ name: 'aggregates', encoding: 'binary' })
    this.transcriptsDb = this.env.openDB({ name: 'transcripts', encoding: 'binary' })
    this.meta = this.env.openDB({ name: 'meta' })
    this.current = this.newHour()
    if (this.meta.get('firstHour') === undefined) this.meta.putSync('firstHour', this.current.hour)
  }

  private newHour (): Hour {
    return { hour: Math.floor(this.now() / HOUR_MS) * HOUR_MS, counts: new Map(), gauges: new Map(), resources: new Set() }
  }

  /** The hour's maps, sealing the last hour's when the clock has moved on. */
  private hour (): Hour {
    if (this.now() - this.current.hour >= HOUR_MS) {
      this.sealed.push(this.current)
      this.current = this.newHour()
    }
    return this.current
  }

  private check (name: string): void {
    if (this.known.has(name)) return
    if (!NAME.test(name)) throw new InvalidOptionError(`metric name must match ${NAME.source}, got ${JSON.stringify(name)}`)
    this.known.add(name)
  }

  count (name: string, n = 1): void {
    if (!(n > 0) || !Number.isFinite(n)) return
    this.check(name)
    const counts = this.hour().counts
    counts.set(name, (counts.get(name) ?? 0) + n)
  }

  gauge (name: string, value: number): void {
    if (!Number.isFinite(value)) return
    this.check(name)
    const gauges = this.hour().gauges
    if (value > (gauges.get(name) ?? Number.NEGATIVE_INFINITY)) gauges.set(name, value)
  }

  resource (root: string): void {
    this.hour().resources.add(root)
  }

  /** The hour this node first counted (ms since the epoch). */
  firstHour (): number {
    return this.meta.get('firstHour') ?? this.current.hour
  }

  /** Write what was counted since the last flush, in one transaction. */
  async flush (): Promise<void> {
    if (this.closed) return
    this.hour()
    const hours = [...this.sealed, this.current]
    this.sealed = []
    this.current = this.newHour()
    if (hours.every(h => h.counts.size === 0 && h.gauges.size === 0 && h.resources.size === 0)) return
    const prune = hours.length > 1
    await this.env.transaction(() => {
      for (const h of hours) {
        for (const [name, n] of h.counts) {
          const key = `h:${pad(h.hour)}:${name}`
          void this.counters.put(key, (this.counters.get(key) ?? 0) + n)
          void this.counters.put(`t:${name}`, (this.counters.get(`t:${name}`) ?? 0) + n)
        }
        for (const [name, v] of h.gauges) {
          const key = `g:${pad(h.hour)}:${name}`
          const old = this.counters.get(key)
          if (old === undefined || v > old) void this.counters.put(key, v)
        }
        for (const root of h.resources) void this.resourcesDb.put(`${pad(h.hour)}:${root}`, 1)
      }
      if (prune) {
        for (const key of this.resourcesDb.getKeys({ end: pad(this.now() - RESOURCE_RETENTION_MS) })) void this.resourcesDb.remove(key)
      }
    })
  }

  private pendingHours (from: number, to: number): Hour[] {
    return [...this.sealed, this.current].filter(h => h.hour >= from && h.hour < to)
  }

  /** Counter sums and gauge maxima over the hours in [from, to), what is not yet flushed included. */
  read (from: number, to: number): Record<string, number> {
    const out: Record<string, number> = {}
    for (const { key, value } of this.counters.getRange({ start: `h:${pad(from)}:`, end: `h:${pad(to)}:` })) {
      const name = key.slice(2 + 15 + 1)
      out[name] = (out[name] ?? 0) + value
    }
    for (const { key, value } of this.counters.getRange({ start: `g:${pad(from)}:`, end: `g:${pad(to)}:` })) {
      const name = key.slice(2 + 15 + 1)
      out[name] = Math.max(out[name] ?? Number.NEGATIVE_INFINITY, value)
    }
    for (const h of this.pendingHours(from, to)) {
      for (const [name, n] of h.counts) out[name] = (out[name] ?? 0) + n
      for (const [name, v] of h.gauges) out[name] = Math.max(out[name] ?? Number.NEGATIVE_INFINITY, v)
    }
    return out
  }

  /** Lifetime totals of every counter, what is not yet flushed included. */
  totals (): Record<string, number> {
    const out: Record<string, number> = {}
    for (const { key, value } of this.counters.getRange({ start: 't:', end: 't;' })) out[key.slice(2)] = value
    for (const h of [...this.sealed, this.current]) {
      for (const [name, n] of h.counts) out[name] = (out[name] ?? 0) + n
    }
    return out
  }

  /** Roots this node requested in the hours [from, to). */
  resources (from: number, to: number): Set<string> {
    const out = new Set<string>()
    for (const key of this.resourcesDb.getKeys({ start: pad(from), end: pad(to) })) out.add(key.slice(16))
    for (const h of this.pendingHours(from, to)) for (const r of h.resources) out.add(r)
    return out
  }

  async close (): Promise<void> {
    if (this.closed) return
    await this.flush()
    this.closed = true
    await this.env.close()
  }
}
