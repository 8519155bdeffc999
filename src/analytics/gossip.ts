import { TopicValidatorResult } from '@libp2p/gossipsub'
import { InvalidReportError } from '../errors.js'
import { collectionTopicScore, type Pubsub } from '../sync/net/pubsub.js'
import { ANALYTICS_TOPIC, MAX_REPORT_BYTES, RELEASE_PAST_WINDOW_MS } from './constants.js'
import { decodeReport, type AnalyticsReport } from './wire.js'

/** Reports from further back than this, or starting further ahead, are ignored (ms). */
const PAST_WINDOW_MS = RELEASE_PAST_WINDOW_MS
const FUTURE_WINDOW_MS = 24 * 3600_000

export type Keep = (bytes: Uint8Array, report: AnalyticsReport) => 'stored' | 'duplicate' | 'full'

/**
 * Check a release from the network, however it came (gossip or anti-entropy): size-capped, decoded strictly
 * (ERR_INVALID_REPORT), and within the time window ('stale' when not).
 */
export function verifyRelease (bytes: Uint8Array, now: number): AnalyticsReport | 'stale' {
  if (bytes.length > MAX_REPORT_BYTES) throw new InvalidReportError(`report of ${bytes.length} bytes exceeds ${MAX_REPORT_BYTES}`)
  const report = decodeReport(bytes)
  if (report.start < now - PAST_WINDOW_MS || report.start > now + FUTURE_WINDOW_MS) return 'stale'
  return report
}

/**
 * The analytics topic on gossipsub. Every message is size-checked and decoded strictly before it is stored or
 * relayed: malformed ones are rejected (they cost the relaying peer gossipsub score), copies and reports out of
 * the time window are ignored. Who relayed a report is not recorded.
 */
export class AnalyticsGossip {
  constructor (private readonly pubsub: Pubsub, private readonly keep: Keep, private readonly now: () => number = Date.now) {}

  /** Check and keep a report from the network; throws ERR_INVALID_REPORT on a malformed one. */
  receive (bytes: Uint8Array): 'stored' | 'duplicate' | 'full' | 'stale' {
    const report = verifyRelease(bytes, this.now())
    return report === 'stale' ? 'stale' : this.keep(bytes, report)
  }

  start (): void {
    if (this.pubsub.score !== undefined) this.pubsub.score.params.topics[ANALYTICS_TOPIC] = collectionTopicScore()
    this.pubsub.topicValidators.set(ANALYTICS_TOPIC, (_peer, msg) => {
      try {
        return this.receive(msg.data) === 'stored' ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
      } catch {
        return TopicValidatorResult.Reject
      }
    })
    this.pubsub.subscribe(ANALYTICS_TOPIC)
  }

  stop (): void {
    this.pubsub.topicValidators.delete(ANALYTICS_TOPIC)
    try {
      this.pubsub.unsubscribe(ANALYTICS_TOPIC)
    } catch {} // gossipsub already stopped: nothing left to leave
  }

  async publish (bytes: Uint8Array): Promise<number> {
    const r = await this.pubsub.publish(ANALYTICS_TOPIC, bytes).catch(() => ({ recipients: [] }))
    return r.recipients.length
  }
}
