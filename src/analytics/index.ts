/**
 * Privacy-preserving analytics: local counters (node.metrics), differentially private releases per period over
 * gossip, community reports combined from them, and Prometheus monitoring.
 */
export { Analytics, describeRelease, type AnalyticsOptions, type AnalyticsLinks, type ReleaseResult, type ReleaseSummary } from './analytics.js'
export { AntiEntropy, type AntiEntropyResult, type SyncHoldings } from './anti-entropy.js'
export { ReleaseHoldings, type PeriodSummary } from './holdings.js'
export { SecureAggregationParticipant, unmaskSum, type Contribution, type Recovery } from './secure-aggregation.js'
export { decodeTranscript, encodeTranscript, transcriptId, unmaskTranscript, type SecureTranscript } from './secure-transcript.js'
export { discreteLaplaceShare, minimumContributors } from './noise-shares.js'
export { MetricsStore, NO_METRICS, type Metrics } from './counters.js'
export { ANALYTICS_TOPIC, ANALYTICS_SYNC_PROTOCOL, ANALYTICS_SUM_SYNC_PROTOCOL, COUNTERS, GAUGES, QUANTITIES, MAX_REPORT_BYTES, type PeriodName } from './constants.js'
export { parseAnalyticsPolicy, readAnalyticsPolicy, DEFAULT_POLICY, type AnalyticsPolicy } from './policy.js'
export { combineReports, estimate, type CommunityReport, type CommunityPeriod, type CombineOptions, type Estimate } from './aggregate.js'
export { renderReport, REPORT_FORMATS, type ReportFormat } from './report.js'
export { encodeReport, decodeReport, type AnalyticsReport } from './wire.js'
export { noisyRelease, quantityCap, epsilonShares, type ReleaseInput } from './release.js'
export { discreteLaplace, discreteLaplacePmf, discreteLaplaceVariance } from '../policy/privacy/privacy-noise.js'
export { periodStart, periodEnd, periodLabel, parsePeriod } from './period.js'
export { monitorHandler, startMonitor } from './monitor.js'
export { createRegistry, health, type MonitorSource } from './prometheus.js'
