import { CID } from 'multiformats/cid'
import { AnalyticsPolicyError } from '../errors.js'
import type { Pubsub } from '../sync/net/pubsub.js'
import { PrivacyLedger, type BudgetState } from '../policy/privacy/privacy-budget.js'
import { COUNTERS, DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_RELEASE_CHECK_MS, GAUGES, MAX_POPULARITY_ENTRIES } from './constants.js'
import { MetricsStore, NO_METRICS, type Metrics } from './counters.js'
import { AnalyticsGossip } from './gossip.js'
import { secureUniform, type Uniform } from '../policy/privacy/privacy-noise.js'
import { periodEnd, periodStart } from './period.js'
import { parseAnalyticsPolicy, readAnalyticsPolicy, type AnalyticsPolicy } from './policy.js'
import { noisyRelease } from './release.js'
import { decodeReport, encodeReport, type AnalyticsReport } from './wire.js'

/** Reports kept per period at most (own and heard): a flood of made-up reports cannot fill the disk. */
const MAX_REPORTS_PER_PERIOD = 10_000
/** A daemon gossips its own recent releases again this often, for nodes that joined since (ms). */
const REPUBLISH_MS = 10 * 60_000

export interface AnalyticsOptions {
  /** Count and release. When false nothing is counted (node.metrics does nothing). @default the policy's `enabled` */
  enabled?: boolean
  /** The policy, instead of `<repo>/policy.json`'s `analytics` key. */
  policy?: Partial<AnalyticsPolicy>
  /** Counters are written to LMDB this often (ms). @default 5000 */
  flushIntervalMs?: number
  /** Release each closed period by itself (a daemon does). @default false */
  autoRelease?: boolean
  /** How often auto-release looks for a closed period not yet released (ms). @default 60000 */
  releaseCheckMs?: number
  /** Clock (tests). @default Date.now */
  now?: () => number
  /** Source of noise (tests). @default node:crypto */
  uniform?: Uniform
}

/** What analytics reads from the running node: gossip, how many peers it has, the public resources it knows. */
export interface AnalyticsLinks {
  pubsub?: Pubsub
  /** Peers connected now, and how many of them are on this node's own segment. */
  peers?: () => { connected: number, segment: number }
  /** Roots of the resources in force in the node's collections, newest first. */
  catalog?: () => string[]
}

export interface ReleaseResult {
  report: AnalyticsReport
  bytes: Uint8Array
  /** Peers the release was sent to directly. */
  recipients: number
  budget: BudgetState
}

/**
 * A node's analytics: local counters (node.metrics), the privacy ledger, differentially private releases per
 * period over gossip, and the community aggregates heard from others.
 */
export class Analytics {
  readonly enabled: boolean
  readonly metrics: Metrics
  /** Auto-release looks done so far (a test waits for them, rather than for some time to pass). */
  releaseChecks = 0
  private readonly store: MetricsStore | undefined
  private readonly ledger: PrivacyLedger | undefined
  private gossip: AnalyticsGossip | undefined
  private links: AnalyticsLinks = {}
  private readonly timers: NodeJS.Timeout[] = []
  private readonly now: () => number
  private lastTick: number
  private readonly own = new Map<string, Uint8Array>()

  constructor (readonly repo: string, private readonly init: AnalyticsOptions = {}) {
    this.now = init.now ?? Date.now
    this.lastTick = this.now()
    this.enabled = init.enabled ?? this.policy().enabled
    this.store = this.enabled ? new MetricsStore(repo, this.now) : undefined
    this.ledger = this.store === undefined ? undefined : new PrivacyLedger(this.store.ledger)
    this.metrics = this.store ?? NO_METRICS
  }

  /** The policy in force: given at creation, else read from `<repo>/policy.json` now (changes apply at once). */
  policy (): AnalyticsPolicy {
    return this.init.policy !== undefined ? parseAnalyticsPolicy(this.init.policy) : readAnalyticsPolicy(this.repo)
  }

  start (links: AnalyticsLinks = {}): void {
    if (this.store === undefined) return
    this.links = links
    if (links.pubsub !== undefined) {
      this.gossip = new AnalyticsGossip(links.pubsub, (bytes, report) => this.keep(bytes, report), this.now)
      this.gossip.start()
    }
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const t = setInterval(() => { void fn().catch(() => {}) }, ms)
      t.unref()
      this.timers.push(t)
    }
    every(this.init.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS, async () => await this.tick())
    if (this.init.autoRelease === true) {
      every(this.init.releaseCheckMs ?? DEFAULT_RELEASE_CHECK_MS, async () => await this.releaseClosed().finally(() => { this.releaseChecks++ }))
      every(REPUBLISH_MS, async () => await this.republish())
    }
  }

  /** Count uptime and sample the peer gauges, then write the counters. */
  async tick (): Promise<void> {
    if (this.store === undefined) return
    const now = this.now()
    this.store.count(COUNTERS.uptimeSeconds, Math.max(0, (now - this.lastTick) / 1000))
    this.lastTick = now
    const peers = this.links.peers?.()
    if (peers !== undefined) {
      this.store.gauge(GAUGES.peersSeen, peers.connected)
      this.store.gauge(GAUGES.segmentPeers, peers.segment)
    }
    await this.store.flush()
  }

  /** Release the period before this one if it was not released yet (auto-release). */
  private async releaseClosed (): Promise<void> {
    const policy = this.policy()
    if (!policy.enabled || this.ledger === undefined || this.store === undefined) return
    const current = periodStart(policy.period, this.now())
    // a node that did not exist before this period has nothing to tell of the last one
    if (this.store.firstHour() >= current) return
    const previous = periodStart(policy.period, current - 1)
    if (this.ledger.state(previous).period > 0) return
    if (this.ledger.state(previous).lifetime + policy.epsilonPerPeriod > policy.lifetimeEpsilon) return
    await this.release({ at: previous })
  }

  private async republish (): Promise<void> {
    for (const bytes of this.own.values()) await this.gossip?.publish(bytes)
  }

  /** Budget spent on the period holding `at` (default now) and over the lifetime, with the policy's limits. */
  budget (at = this.now()): BudgetState & { perPeriod: number, lifetimeLimit: number, periodStart: number } {
    const policy = this.policy()
    const start = periodStart(policy.period, at)
    const s = this.ledger?.state(start) ?? { period: 0, lifetime: 0 }
    return { ...s, perPeriod: policy.epsilonPerPeriod, lifetimeLimit: policy.lifetimeEpsilon, periodStart: start }
  }

  /**
   * Release this node's differentially private aggregate of the period holding `at` (default now), spending
   * `epsilon` (default the period's whole budget) and gossip it. Refused with ERR_PRIVACY_BUDGET, releasing
   * nothing, when the period's or the lifetime's budget would be passed.
   */
  async release (options: { at?: number, epsilon?: number } = {}): Promise<ReleaseResult> {
    const policy = this.policy()
    if (this.store === undefined || this.ledger === undefined || !policy.enabled) throw new AnalyticsPolicyError('analytics is off for this node')
    const start = periodStart(policy.period, options.at ?? this.now())
    const end = periodEnd(policy.period, start)
    const epsilon = options.epsilon ?? policy.epsilonPerPeriod
    if (!(epsilon > 0)) throw new AnalyticsPolicyError(`epsilon must be > 0, got ${epsilon}`)
    await this.tick()
    const budget = this.ledger.spend(start, epsilon, { perPeriod: policy.epsilonPerPeriod, lifetime: policy.lifetimeEpsilon })
    const counters = this.store.read(start, end)
    const first = this.store.firstHour()
    counters['new.node'] = first >= start && first < end ? 1 : 0
    const report = noisyRelease({
      period: policy.period,
      start,
      counters,
      requested: this.store.resources(start, end),
      catalog: this.catalog(),
      epsilon,
      maxResources: policy.maxResources,
      caps: policy.caps
    }, this.init.uniform ?? secureUniform)
    const bytes = encodeReport(report)
    this.keep(bytes, report)
    this.own.set(String(start), bytes)
    const recipients = await this.gossip?.publish(bytes) ?? 0
    return { report, bytes, recipients, budget }
  }

  private catalog (): string[] {
    const out: string[] = []
    for (const root of this.links.catalog?.() ?? []) {
      try {
        if (CID.parse(root).toString() === root && !out.includes(root)) out.push(root)
      } catch {}
      if (out.length >= MAX_POPULARITY_ENTRIES) break
    }
    return out
  }

  /** Store a checked report (own or heard). */
  private keep (bytes: Uint8Array, report: AnalyticsReport): 'stored' | 'duplicate' | 'full' {
    const db = this.store?.reportsDb
    if (db === undefined) return 'full'
    const prefix = `${String(report.start).padStart(15, '0')}:`
    const key = prefix + Buffer.from(report.id).toString('hex')
    if (db.get(key) !== undefined) return 'duplicate'
    let n = 0
    for (const _ of db.getKeys({ start: prefix, end: prefix + '~', limit: MAX_REPORTS_PER_PERIOD })) n++
    if (n >= MAX_REPORTS_PER_PERIOD) return 'full'
    db.putSync(key, bytes)
    return 'stored'
  }

  /** Check and keep a report received some other way than gossip (throws ERR_INVALID_REPORT). */
  receive (bytes: Uint8Array): string {
    if (this.gossip !== undefined) return this.gossip.receive(bytes)
    return this.keep(bytes, decodeReport(bytes))
  }

  /** Every aggregate held: this node's releases and those heard from the community. */
  reports (): AnalyticsReport[] {
    const db = this.store?.reportsDb
    if (db === undefined) return []
    const out: AnalyticsReport[] = []
    for (const { value } of db.getRange({})) {
      try {
        out.push(decodeReport(value))
      } catch {}
    }
    return out
  }

  /** Lifetime totals of this node's counters (local only: for /metrics). */
  totals (): Record<string, number> {
    return this.store?.totals() ?? {}
  }

  async stop (): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    this.timers.length = 0
    this.gossip?.stop()
    this.gossip = undefined
    if (this.store !== undefined) {
      await this.tick().catch(() => {})
      await this.store.close()
    }
  }
}
