import type { Libp2p } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { AnalyticsPolicyError, PrivacyBudgetError } from '../errors.js'
import type { Pubsub } from '../sync/net/pubsub.js'
import { PrivacyLedger, type BudgetState } from '../policy/privacy/privacy-budget.js'
import { AntiEntropy, type AntiEntropyResult, type SyncKind } from './anti-entropy.js'
import {
  ANALYTICS_SUM_SYNC_PROTOCOL, COUNTERS, DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_RELEASE_CHECK_MS, DEFAULT_SYNC_INTERVAL_MS, GAUGES, MAX_POPULARITY_ENTRIES,
  MAX_TRANSCRIPT_BYTES, MAX_TRANSCRIPTS_HELD, MAX_TRANSCRIPTS_PER_PERIOD, RELEASE_PAST_WINDOW_MS
} from './constants.js'
import { MetricsStore, NO_METRICS, type Metrics } from './counters.js'
import { AnalyticsGossip, verifyRelease } from './gossip.js'
import { ReleaseHoldings } from './holdings.js'
import { secureUniform, type Uniform } from '../policy/privacy/privacy-noise.js'
import { periodEnd, periodStart } from './period.js'
import { parseAnalyticsPolicy, readAnalyticsPolicy, type AnalyticsPolicy } from './policy.js'
import { noisyRelease, secureFigures } from './release.js'
import { SecureRounds, roundName, type RoundHooks, type RoundOutcome, type SecureRoundsOptions } from './secure-rounds.js'
import { decodeTranscript, parseRoundName, transcriptId, unmaskTranscript } from './secure-transcript.js'
import { decodeAggregate, encodeAggregate, type SecureAggregate } from './secure-wire.js'
import { encodeReport, type AnalyticsReport } from './wire.js'

/** Transcripts of secure rounds, by the start of the round's period and the transcript's hash. */
const TRANSCRIPTS: SyncKind = {
  protocol: ANALYTICS_SUM_SYNC_PROTOCOL,
  maxItemBytes: MAX_TRANSCRIPT_BYTES,
  locate: bytes => ({ start: parseRoundName(decodeTranscript(bytes).round).start, id: transcriptId(bytes) })
}

/** What became of a transcript received: kept with its sum, already held (or its round's), or not for this node. */
export type TranscriptOutcome = 'stored' | 'duplicate' | 'full' | 'stale' | 'other-policy'

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
  /** Besides on every new connection, exchange releases held with one connected peer this often (ms). @default 300000 */
  syncIntervalMs?: number
  /** Clock (tests). @default Date.now */
  now?: () => number
  /** Source of noise (tests). @default node:crypto */
  uniform?: Uniform
  /**
   * Release each period by a secure aggregation round with the other nodes (the noise added once for the
   * community), falling back to this node's own noisy release when no round can start, with these windows.
   * @default on with the default windows when the policy's secureAggregation is true, else off
   */
  secureAggregation?: SecureRoundsOptions
}

/**
 * How a period was released: in a community sum, on its own (and why), or not at all (contributed, no sum seen).
 * `figures` are this node's own clamped figures before noise (local only: what it put in the round).
 */
export type PeriodRelease =
  | { path: 'secure', aggregate: SecureAggregate, figures: Record<string, number>, transcript: Uint8Array }
  | { path: 'per-node', release: ReleaseResult, reason: string }
  | { path: 'none', reason: string, figures: Record<string, number> }

/** What analytics reads from the running node: gossip, how many peers it has, the public resources it knows. */
export interface AnalyticsLinks {
  pubsub?: Pubsub
  /** The node's libp2p: releases held are exchanged with every peer it meets (anti-entropy). */
  libp2p?: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getPeers' | 'addEventListener' | 'removeEventListener'>
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

/** What `cmesh report --release` says of a release: no value of it, only what was spent and where it went. */
export interface ReleaseSummary {
  period: string
  /** Start of the period released (ISO 8601). */
  start: string
  epsilon: number
  /** Peers the release was sent to at once; the others get it by anti-entropy when they meet this node. */
  recipients: number
  /** Epsilon spent on the period and over the node's lifetime, after this release. */
  spent: { period: number, lifetime: number }
}

export function describeRelease (r: ReleaseResult): ReleaseSummary {
  return {
    period: r.report.period,
    start: new Date(r.report.start).toISOString(),
    epsilon: r.report.epsilon,
    recipients: r.recipients,
    spent: { period: r.budget.period, lifetime: r.budget.lifetime }
  }
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
  /** Anti-entropy exchanges this node started that finished, and what they brought (tests wait on these). */
  readonly exchanges: AntiEntropyResult[] = []
  private readonly store: MetricsStore | undefined
  private readonly ledger: PrivacyLedger | undefined
  private readonly holdings: ReleaseHoldings | undefined
  private readonly transcripts: ReleaseHoldings | undefined
  /** Anti-entropy exchanges of secure sums' transcripts this node started, and what they brought. */
  readonly sumExchanges: AntiEntropyResult[] = []
  private sumSync: AntiEntropy | undefined
  private sumSyncStarted: Promise<void> | undefined
  private gossip: AnalyticsGossip | undefined
  private sync: AntiEntropy | undefined
  private syncStarted: Promise<void> | undefined
  private links: AnalyticsLinks = {}
  private readonly timers: NodeJS.Timeout[] = []
  private readonly now: () => number
  private lastTick: number
  private readonly own = new Map<string, Uint8Array>()
  /** Secure rounds on gossip, when secureAggregation is set (tests read what it broadcast). */
  rounds: SecureRounds | undefined
  private readonly inFlight = new Set<number>()

  constructor (readonly repo: string, private readonly init: AnalyticsOptions = {}) {
    this.now = init.now ?? Date.now
    this.lastTick = this.now()
    this.enabled = init.enabled ?? this.policy().enabled
    this.store = this.enabled ? new MetricsStore(repo, this.now) : undefined
    this.ledger = this.store === undefined ? undefined : new PrivacyLedger(this.store.ledger)
    this.holdings = this.store === undefined ? undefined : new ReleaseHoldings(this.store.reportsDb)
    this.holdings?.prune(this.now() - RELEASE_PAST_WINDOW_MS)
    const bounds = { perPeriod: MAX_TRANSCRIPTS_PER_PERIOD, held: MAX_TRANSCRIPTS_HELD }
    this.transcripts = this.store === undefined ? undefined : new ReleaseHoldings(this.store.transcriptsDb, bounds)
    this.transcripts?.prune(this.now() - RELEASE_PAST_WINDOW_MS)
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
      if (this.init.secureAggregation !== undefined || this.policy().secureAggregation) {
        this.rounds = new SecureRounds(links.pubsub, this.init.secureAggregation ?? {})
        this.rounds.start()
      }
    }
    if (links.libp2p !== undefined && this.holdings !== undefined) {
      const sync = this.sync = new AntiEntropy(links.libp2p, { holdings: this.holdings, receive: bytes => this.receive(bytes) })
      sync.onExchange = r => { this.exchanges.push(r); if (this.exchanges.length > 100) this.exchanges.shift() }
      this.syncStarted = sync.start()
    }
    if (links.libp2p !== undefined && this.transcripts !== undefined) {
      const sums = this.sumSync = new AntiEntropy(links.libp2p, { holdings: this.transcripts, receive: bytes => this.receiveTranscript(bytes) }, TRANSCRIPTS)
      sums.onExchange = r => { this.sumExchanges.push(r); if (this.sumExchanges.length > 100) this.sumExchanges.shift() }
      this.sumSyncStarted = sums.start()
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
    if (this.sync !== undefined) every(this.init.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS, async () => await this.exchange())
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
    if (this.inFlight.has(previous)) return
    await this.releasePeriod({ at: previous })
  }

  /**
   * Exchange the releases, and the transcripts of secure rounds, held with a connected peer (also done with every
   * peer on connecting). Resolves to what the releases' exchange brought; throws the first exchange's error.
   */
  async exchange (): Promise<AntiEntropyResult | undefined> {
    const [r, sums] = await Promise.allSettled([this.sync?.exchangeWithAny(), this.sumSync?.exchangeWithAny()])
    if (r.status === 'rejected') throw r.reason
    if (sums.status === 'rejected') throw sums.reason
    return r.value
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

  /**
   * Release the period holding `at` (default now) with the period's whole epsilon: by a secure round when
   * secureAggregation is on (the epsilon is spent just before contributing), else, or when the round stops before
   * this node contributed (too few keys, a disagreement on the key list), by this node's own noisy release. A node
   * that contributed and saw no sum releases nothing more: its epsilon is spent once, on the round.
   */
  async releasePeriod (options: { at?: number, hooks?: RoundHooks } = {}): Promise<PeriodRelease> {
    const policy = this.policy()
    const start = periodStart(policy.period, options.at ?? this.now())
    if (this.rounds === undefined) return { path: 'per-node', release: await this.release({ at: start }), reason: 'secure aggregation is off' }
    if (this.store === undefined || this.ledger === undefined || !policy.enabled) throw new AnalyticsPolicyError('analytics is off for this node')
    if (this.inFlight.has(start)) throw new AnalyticsPolicyError('a round for this period is already running')
    this.inFlight.add(start)
    try {
      const ledger = this.ledger
      const epsilon = policy.epsilonPerPeriod
      // refused before the round, so a node without budget takes no part in it
      const spent = ledger.state(start)
      if (spent.period > 0) throw new PrivacyBudgetError(`the period's privacy budget is spent (${spent.period} of ${policy.epsilonPerPeriod}); nothing more is released until the next period`)
      if (spent.lifetime + epsilon > policy.lifetimeEpsilon) throw new PrivacyBudgetError(`the lifetime privacy budget is spent (${spent.lifetime} of ${policy.lifetimeEpsilon}); nothing more is released`)
      await this.tick()
      const end = periodEnd(policy.period, start)
      const counters = this.store.read(start, end)
      const first = this.store.firstHour()
      counters['new.node'] = first >= start && first < end ? 1 : 0
      const figures = secureFigures({ period: policy.period, start, counters, epsilon, caps: policy.caps })
      const outcome: RoundOutcome = await this.rounds.run({ period: policy.period, start, epsilon, ...figures }, {
        ...options.hooks,
        spend: () => { ledger.spend(start, epsilon, { perPeriod: policy.epsilonPerPeriod, lifetime: policy.lifetimeEpsilon }) }
      })
      if (outcome.status === 'aggregated') {
        // one sum per round: one received meanwhile by anti-entropy stands (its survivors may differ)
        if (!this.roundHeld(start, roundName({ period: policy.period, start, epsilon, params: figures.params }))) {
          this.keepAggregate(outcome.aggregate)
          this.transcripts?.keep(outcome.transcript, { start, id: transcriptId(outcome.transcript) })
        }
        return { path: 'secure', aggregate: outcome.aggregate, figures: figures.values, transcript: outcome.transcript }
      }
      if (outcome.status === 'incomplete') return { path: 'none', reason: outcome.reason, figures: figures.values }
      return { path: 'per-node', release: await this.release({ at: start }), reason: outcome.reason }
    } finally {
      this.inFlight.delete(start)
    }
  }

  private keepAggregate (a: SecureAggregate): void {
    this.store?.aggregatesDb.putSync(`${String(a.start).padStart(15, '0')}:${Buffer.from(a.id).toString('hex')}`, encodeAggregate(a))
  }

  /**
   * Check and keep the transcript of a secure round from a peer, with the community sum it gives. The sum is
   * recomputed from the transcript (unmaskTranscript), never taken as told, with this node's own policy for the
   * round's period: a round under another policy (period, epsilon, caps: its name differs) is 'other-policy', one
   * older than the releases kept is 'stale', and a second transcript of a round already held is a 'duplicate'
   * (one sum per round). A malformed transcript, or one that does not unmask, is ERR_INVALID_REPORT and changes
   * nothing.
   */
  receiveTranscript (bytes: Uint8Array): TranscriptOutcome {
    if (this.transcripts === undefined || this.store === undefined) return 'full'
    const t = decodeTranscript(bytes)
    const { period, start, epsilon } = parseRoundName(t.round)
    if (start < this.now() - RELEASE_PAST_WINDOW_MS) return 'stale'
    const id = transcriptId(bytes)
    if (this.transcripts.get(start, id) !== undefined) return 'duplicate'
    const policy = this.policy()
    if (period !== policy.period || epsilon !== policy.epsilonPerPeriod) return 'other-policy'
    const figures = secureFigures({ period, start, counters: {}, epsilon, caps: policy.caps })
    if (roundName({ period, start, epsilon, params: figures.params }) !== t.round) return 'other-policy'
    if (this.roundHeld(start, t.round)) return 'duplicate'
    const aggregate = unmaskTranscript(t, { period, start, epsilon, scales: figures.scales, caps: figures.caps })
    const kept = this.transcripts.keep(bytes, { start, id })
    if (kept === 'stored') this.keepAggregate(aggregate)
    return kept
  }

  /** Whether a transcript of this round is held (at most MAX_TRANSCRIPTS_PER_PERIOD are looked at). */
  private roundHeld (start: number, round: string): boolean {
    for (const id of this.transcripts?.ids(start) ?? []) {
      const held = this.transcripts?.get(start, id)
      try {
        if (held !== undefined && decodeTranscript(held).round === round) return true
      } catch {}
    }
    return false
  }

  /** The community aggregates of secure rounds this node computed or recomputed from a transcript (each counts its contributors once). */
  aggregates (): SecureAggregate[] {
    const out: SecureAggregate[] = []
    for (const { value } of this.store?.aggregatesDb.getRange({}) ?? []) {
      try {
        out.push(decodeAggregate(value))
      } catch {}
    }
    return out
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
    return this.holdings?.keep(bytes, report) ?? 'full'
  }

  /** Check and keep a report received some other way than gossip (throws ERR_INVALID_REPORT). */
  receive (bytes: Uint8Array): string {
    const report = verifyRelease(bytes, this.now())
    return report === 'stale' ? 'stale' : this.keep(bytes, report)
  }

  /** Every aggregate held: this node's releases and those heard from the community. */
  reports (): AnalyticsReport[] {
    return this.holdings?.all() ?? []
  }

  /** Lifetime totals of this node's counters (local only: for /metrics). */
  totals (): Record<string, number> {
    return this.store?.totals() ?? {}
  }

  async stop (): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    this.timers.length = 0
    this.rounds?.stop()
    this.gossip?.stop()
    this.gossip = undefined
    await this.syncStarted?.catch(() => {})
    await this.sync?.stop()
    this.sync = undefined
    await this.sumSyncStarted?.catch(() => {})
    await this.sumSync?.stop()
    this.sumSync = undefined
    if (this.store !== undefined) {
      await this.tick().catch(() => {})
      await this.store.close()
    }
  }
}
