import { createHash } from 'node:crypto'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { systemClock, type Clock } from '../clock.js'
import { SecureAggregationError } from '../errors.js'
import type { Pubsub } from '../sync/net/pubsub.js'
import {
  DEFAULT_KEY_WINDOW_MS, DEFAULT_STEP_WINDOW_MS, MAX_COHORT, MAX_ROUNDS_TRACKED, MIN_COHORT, QUANTITIES, SECURE_AGGREGATION_TOPIC
} from './constants.js'
import { discreteLaplaceShare, minimumContributors } from './noise-shares.js'
import { SecureAggregationParticipant, unmaskSum, type Contribution, type Recovery } from './secure-aggregation.js'
import { ROUND_NAME, bigBytes, bytesBig, bytesVector, encodeTranscript, hex, roundAggregate, vectorBytes, type TranscriptSpec } from './secure-transcript.js'
import { SECURE_VECTOR_LENGTH, decodeSecureMessage, encodeSecureMessage, type SecureAggregate, type SecureMessage } from './secure-wire.js'

/**
 * Secure aggregation rounds over gossipsub, with no server: every message is broadcast on SECURE_AGGREGATION_TOPIC,
 * so every node follows the round and computes the community's sum itself.
 *
 * 0. each node announces a fresh X25519 key for the round; keys are heard for `keyWindowMs`; the cohort is the
 *    sorted keys heard (MIN_COHORT to MAX_COHORT of them, else the round is abandoned: 'fallback');
 * 0b. each node broadcasts the digest of its cohort and waits for the others' (at most `stepWindowMs`): one that
 *    differs and the node abandons the round before contributing anything ('fallback');
 * 1. each node contributes its vector plus its noise share (discreteLaplaceShare(scale, k), k = minimumContributors),
 *    masked (secure-aggregation.ts); the period's epsilon is spent just before (`spend`);
 * 2. once the contributions of every member are in, or `stepWindowMs` passed, with at least k of them, each
 *    contributor sends its recovery for the survivors it saw;
 * 3. once every survivor's recovery is in, or `stepWindowMs` passed, a node holding k recoveries for its survivors
 *    computes the sum: one community aggregate, the noise drawn once.
 * A node that contributed and saw no sum ('incomplete') releases nothing more for the period: the sum may still come
 * out from the others' messages, and its epsilon is spent once. Honest-but-curious: messages are not signed, so a
 * node that lies can spoil a round, but no one reads a member's figures while fewer than k collude.
 */

export interface RoundSpec extends TranscriptSpec {
  /** Clamped figures of the period, by quantity key (integers in [0, cap]). */
  values: Record<string, number>
  /** Other parameters the cohort must share (caps, weights): part of the round's name, so mismatches never mix. */
  params: string
}

export type RoundOutcome =
  /** The sum, and the round's transcript (secure-transcript.ts): what another node needs to compute it again. */
  | { status: 'aggregated', aggregate: SecureAggregate, contributed: boolean, transcript: Uint8Array }
  /** The round stopped before this node contributed: nothing was sent of its figures, nothing spent. */
  | { status: 'fallback', reason: string }
  /** This node contributed, no sum came out here (too few contributions or recoveries). */
  | { status: 'incomplete', reason: string }

export interface RoundHooks {
  /** Called just before the contribution is sent (spend the budget here; a throw abandons the round: 'fallback'). */
  spend?: () => void
  /** Called once the contribution is broadcast (tests stop a node here to drop it). */
  contributed?: () => void | Promise<void>
  /** Called once the cohort is agreed, before contributing (tests stop a node here). */
  cohort?: (keys: number) => boolean | Promise<boolean>
}

export interface SecureRoundsOptions {
  clock?: Clock
  keyWindowMs?: number
  stepWindowMs?: number
  minCohort?: number
  /** A node's noise share for a figure (tests: () => 0). @default discreteLaplaceShare */
  noiseShare?: (scale: number, parts: number) => number
}

interface RoundState {
  keys: Map<string, Uint8Array>
  digests: Map<string, string>
  contributions: Map<string, Extract<SecureMessage, { t: 'contribution' }>>
  recoveries: Map<string, Extract<SecureMessage, { t: 'recovery' }>>
  wake: Set<() => void>
}

/** Keys a round records at most (past MAX_COHORT: a cohort that large is refused, but the count is kept bounded). */
const MAX_KEYS_HEARD = 4 * MAX_COHORT

/** The name of a round: period, start, epsilon and a digest of the other parameters the cohort must share. */
export function roundName (spec: Pick<RoundSpec, 'period' | 'start' | 'epsilon' | 'params'>): string {
  return `${spec.period}:${spec.start}:${spec.epsilon}:${createHash('sha256').update(spec.params).digest('hex').slice(0, 16)}`
}

export class SecureRounds {
  /** Every message this node broadcast, in order (tests check that none carries a node's plain figures). */
  readonly sent: Uint8Array[] = []
  private readonly rounds = new Map<string, RoundState>()
  private readonly running = new Set<string>()
  private readonly clock: Clock
  private readonly keyWindowMs: number
  private readonly stepWindowMs: number
  private readonly minCohort: number
  private readonly noiseShare: (scale: number, parts: number) => number
  private stopped = false

  constructor (private readonly pubsub: Pubsub, options: SecureRoundsOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.keyWindowMs = options.keyWindowMs ?? DEFAULT_KEY_WINDOW_MS
    this.stepWindowMs = options.stepWindowMs ?? DEFAULT_STEP_WINDOW_MS
    this.minCohort = Math.max(2, options.minCohort ?? MIN_COHORT)
    this.noiseShare = options.noiseShare ?? ((scale, parts) => discreteLaplaceShare(scale, parts))
  }

  start (): void {
    this.pubsub.topicValidators.set(SECURE_AGGREGATION_TOPIC, (_peer, msg) => {
      try {
        return this.receive(msg.data) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
      } catch {
        return TopicValidatorResult.Reject
      }
    })
    this.pubsub.subscribe(SECURE_AGGREGATION_TOPIC)
  }

  stop (): void {
    this.stopped = true
    this.pubsub.topicValidators.delete(SECURE_AGGREGATION_TOPIC)
    try {
      this.pubsub.unsubscribe(SECURE_AGGREGATION_TOPIC)
    } catch {} // gossipsub already stopped
    for (const r of this.rounds.values()) for (const w of r.wake) w()
  }

  /**
   * The state of a round, made on its first message. At most MAX_ROUNDS_TRACKED are followed: the oldest not
   * running here is forgotten first, so made-up round names cannot push out a round this node runs.
   */
  private state (round: string): RoundState | undefined {
    let s = this.rounds.get(round)
    if (s === undefined) {
      if (this.rounds.size >= MAX_ROUNDS_TRACKED) {
        const idle = [...this.rounds.keys()].find(r => !this.running.has(r))
        if (idle === undefined) return undefined
        this.rounds.delete(idle)
      }
      this.rounds.set(round, s = { keys: new Map(), digests: new Map(), contributions: new Map(), recoveries: new Map(), wake: new Set() })
    }
    return s
  }

  /** Check and record a round message (throws ERR_INVALID_REPORT when malformed); false when it adds nothing. */
  receive (data: Uint8Array): boolean {
    const m = decodeSecureMessage(data)
    return this.record(m)
  }

  private record (m: SecureMessage): boolean {
    if (!ROUND_NAME.test(m.round)) return false
    const s = this.state(m.round)
    if (s === undefined) return false
    const k = hex(m.key)
    let added = false
    if (m.t === 'key' && !s.keys.has(k) && s.keys.size < MAX_KEYS_HEARD) { s.keys.set(k, m.key); added = true }
    // the other messages only from keys heard: a round's memory is bounded by MAX_KEYS_HEARD senders
    const known = s.keys.has(k)
    if (known && m.t === 'cohort' && !s.digests.has(k)) { s.digests.set(k, hex(m.cohort)); added = true }
    if (known && m.t === 'contribution' && !s.contributions.has(k)) { s.contributions.set(k, m); added = true }
    if (known && m.t === 'recovery' && !s.recoveries.has(k)) { s.recoveries.set(k, m); added = true }
    if (added) for (const w of s.wake) w()
    return added
  }

  private async publish (m: SecureMessage): Promise<void> {
    const data = encodeSecureMessage(m)
    this.record(m)
    this.sent.push(data)
    if (this.sent.length > 1000) this.sent.shift()
    await this.pubsub.publish(SECURE_AGGREGATION_TOPIC, data).catch(() => {})
  }

  /** Wait until `done()` holds or `ms` pass on the clock (or the rounds stop: at once when they already have). */
  private async until (s: RoundState, ms: number, done: () => boolean): Promise<void> {
    if (this.stopped || done()) return
    await new Promise<void>(resolve => {
      const finish = (): void => {
        this.clock.clearTimeout(timer)
        s.wake.delete(check)
        resolve()
      }
      const check = (): void => { if (this.stopped || done()) finish() }
      const timer = this.clock.setTimeout(finish, ms)
      s.wake.add(check)
    })
  }

  /** Run one round for `spec`: the community aggregate, or why there is none. */
  async run (spec: RoundSpec, hooks: RoundHooks = {}): Promise<RoundOutcome> {
    const round = roundName(spec)
    if (this.running.has(round)) return { status: 'fallback', reason: 'this node already runs this round' }
    this.running.add(round)
    try {
      const s = this.state(round)
      if (s === undefined) return { status: 'fallback', reason: `${MAX_ROUNDS_TRACKED} rounds already running` }
      return await this.steps(round, s, spec, hooks)
    } finally {
      this.running.delete(round)
    }
  }

  private async steps (round: string, s: RoundState, spec: RoundSpec, hooks: RoundHooks): Promise<RoundOutcome> {
    const me = new SecureAggregationParticipant()
    const myKey = hex(me.publicKey)
    await this.publish({ v: 1, t: 'key', round, key: me.publicKey })
    await this.until(s, this.keyWindowMs, () => false)
    if (this.stopped) return { status: 'fallback', reason: 'stopped' }

    const cohort = [...s.keys.values()].sort(Buffer.compare).slice(0, MAX_COHORT)
    if (!cohort.some(k => hex(k) === myKey)) return { status: 'fallback', reason: `more than ${MAX_COHORT} keys heard: this node is not in the cohort` }
    if (cohort.length < this.minCohort) return { status: 'fallback', reason: `${cohort.length} keys heard, a round needs ${this.minCohort}` }
    const members = cohort.map(hex)
    const digest = createHash('sha256').update(Buffer.concat(cohort)).digest()
    await this.publish({ v: 1, t: 'cohort', round, key: me.publicKey, cohort: digest })
    const other = (m: string): boolean => s.digests.has(m) && s.digests.get(m) !== hex(digest)
    await this.until(s, this.stepWindowMs, () => members.every(m => s.digests.has(m)) || members.some(other))
    if (this.stopped) return { status: 'fallback', reason: 'stopped' }
    const differ = members.filter(other).length
    if (differ > 0) return { status: 'fallback', reason: `${differ} of the ${members.length} members heard another key list` }
    if (hooks.cohort !== undefined && !(await hooks.cohort(members.length))) return { status: 'fallback', reason: 'left before contributing' }

    const n = cohort.length
    const threshold = minimumContributors(n)
    const values = QUANTITIES.map(q => spec.values[q.key]! + this.noiseShare(spec.scales[q.key]!, threshold))
    try {
      hooks.spend?.()
    } catch (err) {
      return { status: 'fallback', reason: (err as Error).message }
    }
    const mine = me.contribute(cohort, round, values, threshold)
    await this.publish({ v: 1, t: 'contribution', round, key: me.publicKey, cohort: digest, masked: vectorBytes(mine.masked), shares: mine.shares })
    await hooks.contributed?.()

    const ours = (m: { cohort: Uint8Array }): boolean => hex(m.cohort) === hex(digest)
    const contributed = (): number[] => members.flatMap((m, i) => {
      const c = s.contributions.get(m)
      return c !== undefined && ours(c) && c.shares.length === n && c.shares[i] === null ? [i] : []
    })
    await this.until(s, this.stepWindowMs, () => contributed().length === n)
    if (this.stopped) return { status: 'incomplete', reason: 'stopped' }
    const survivors = contributed()
    if (survivors.length < threshold) return { status: 'incomplete', reason: `${survivors.length} contributions of ${n}, below the threshold of ${threshold}` }
    const myIndex = members.indexOf(myKey)
    const toMe = new Map(survivors.filter(j => j !== myIndex).map((j): [number, Uint8Array] => [j, s.contributions.get(members[j]!)!.shares[myIndex]!]))
    let recovery: Recovery
    try {
      recovery = me.recover(cohort, round, survivors, toMe, SECURE_VECTOR_LENGTH, threshold)
    } catch (err) {
      return { status: 'incomplete', reason: (err as Error).message }
    }
    await this.publish({
      v: 1,
      t: 'recovery',
      round,
      key: me.publicKey,
      cohort: digest,
      survivors,
      selfMaskShares: recovery.selfMaskShares.map(([j, y]): [number, Uint8Array] => [j, bigBytes(y, 66)]),
      correction: vectorBytes(recovery.correction)
    })

    const sameSurvivors = (): Array<Extract<SecureMessage, { t: 'recovery' }>> => survivors.flatMap(i => {
      const r = s.recoveries.get(members[i]!)
      return r !== undefined && ours(r) && r.survivors.join() === survivors.join() ? [r] : []
    })
    await this.until(s, this.stepWindowMs, () => sameSurvivors().length === survivors.length)
    const recoveries = sameSurvivors()
    if (recoveries.length < threshold) return { status: 'incomplete', reason: `${recoveries.length} recoveries of ${survivors.length} contributors, below the threshold of ${threshold}` }
    const contributions: Contribution[] = survivors.map(i => {
      const c = s.contributions.get(members[i]!)!
      return { from: i, masked: bytesVector(c.masked), shares: c.shares }
    })
    let sum: number[]
    try {
      sum = unmaskSum(contributions, recoveries.map(r => ({
        from: members.indexOf(hex(r.key)),
        selfMaskShares: r.selfMaskShares.map(([j, y]): [number, bigint] => [j, bytesBig(y)]),
        correction: bytesVector(r.correction)
      })), SECURE_VECTOR_LENGTH, threshold)
    } catch (err) {
      if (err instanceof SecureAggregationError) return { status: 'incomplete', reason: err.message }
      throw err
    }
    const aggregate = roundAggregate(round, cohort, survivors, sum, spec)
    const transcript = encodeTranscript({
      v: 1,
      kind: 'secure-transcript',
      round,
      keys: cohort,
      contributions: survivors.map(i => [i, s.contributions.get(members[i]!)!.masked]),
      recoveries: recoveries.map(r => [members.indexOf(hex(r.key)), r.selfMaskShares, r.correction] as [number, Array<[number, Uint8Array]>, Uint8Array])
        .sort((x, y) => x[0] - y[0])
    })
    return { status: 'aggregated', aggregate, contributed: true, transcript }
  }
}
