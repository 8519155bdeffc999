/**
 * Defaults of privacy-preserving analytics. Every number a node releases is one of its own counters for one
 * reporting period, clamped to a per-node cap (the sensitivity) and noised with discrete Laplace noise of scale
 * cap / epsilon_i, where the epsilon_i of one release add up to the period's epsilon (see README, Analytics).
 */

/** Gossipsub topic the community's aggregates travel on. */
export const ANALYTICS_TOPIC = '/cmesh/analytics/1.0.0'

/** Largest encoded aggregate accepted from the topic (a report holds at most MAX_POPULARITY_ENTRIES resources). */
export const MAX_REPORT_BYTES = 16 * 1024

/** Protocol peers use to exchange the releases they hold (anti-entropy: each asks every peer it meets). */
export const ANALYTICS_SYNC_PROTOCOL = '/cmesh/analytics-sync/1.0.0'

/** Releases a node keeps per period at most (own and heard): a flood of made-up releases cannot fill the disk. */
export const MAX_REPORTS_PER_PERIOD = 10_000

/** Releases a node keeps in all at most; past it the oldest period is dropped. */
export const MAX_REPORTS_HELD = 50_000

/** Periods one anti-entropy summary covers at most (the newest held). */
export const MAX_SUMMARY_PERIODS = 256

/** Release ids one anti-entropy answer lists at most, and releases one exchange asks for at most. */
export const MAX_SYNC_IDS = 20_000
export const MAX_SYNC_WANTS = 2_000

/** Largest anti-entropy message (a list of MAX_SYNC_IDS ids, with room for its framing). */
export const MAX_SYNC_MESSAGE_BYTES = 512 * 1024

/**
 * Protocol peers use to exchange the transcripts of secure rounds they hold: the same anti-entropy as releases
 * (summary, ids, want, one item a frame), under its own protocol id so that a node without it keeps syncing releases.
 */
export const ANALYTICS_SUM_SYNC_PROTOCOL = '/cmesh/analytics-sync/sums/1.0.0'

/** Largest transcript of a secure round (a full cohort of MAX_COHORT is about 310 KB), below MAX_SYNC_MESSAGE_BYTES. */
export const MAX_TRANSCRIPT_BYTES = 448 * 1024

/** Transcripts a node keeps per period (one per round name) and in all. */
export const MAX_TRANSCRIPTS_PER_PERIOD = 16
export const MAX_TRANSCRIPTS_HELD = 1024

/** One anti-entropy exchange gives up after this long (ms). */
export const SYNC_TIMEOUT_MS = 30_000

/** Inbound anti-entropy streams a peer may hold open at once. */
export const SYNC_MAX_INBOUND_STREAMS = 2

/** A daemon also exchanges with one connected peer this often, besides on every new connection (ms). */
export const DEFAULT_SYNC_INTERVAL_MS = 5 * 60_000

/** Releases older than this are forgotten, and refused from the network (ms). */
export const RELEASE_PAST_WINDOW_MS = 400 * 24 * 3600_000

/** Counters are kept in memory and written to LMDB in one transaction this often (ms). */
export const DEFAULT_FLUSH_INTERVAL_MS = 5000

/** How often a daemon looks for a closed period it has not released yet (ms). */
export const DEFAULT_RELEASE_CHECK_MS = 60_000

/** Reporting periods a node can release per, and a report can group by. */
export type PeriodName = 'hour' | 'day' | 'week' | 'month'

/** Reporting period of releases. @default 'week' */
export const DEFAULT_PERIOD: PeriodName = 'week'

/** Epsilon one period's releases may spend in all. @default 1 */
export const DEFAULT_EPSILON_PER_PERIOD = 1

/** Epsilon a node may ever spend; past it nothing more is released (until the policy raises it). @default 52 */
export const DEFAULT_LIFETIME_EPSILON = 52

/** Noisy distinct-requester count a resource must pass (itself noised) to be reported popular. @default 5 */
export const DEFAULT_POPULARITY_THRESHOLD = 5

/** Scale of the Laplace noise added to the popularity threshold k (post-processing: it costs no budget). */
export const DEFAULT_THRESHOLD_NOISE = 2

/** Resources one node counts as requested in one period at most (its popularity contribution cap). @default 4 */
export const DEFAULT_MAX_RESOURCES = 4

/** Resources a node reports on in one release at most: the newest in force in its collections. */
export const MAX_POPULARITY_ENTRIES = 64

/** Share of a release's epsilon given to the popularity vector; the rest is split evenly over the scalars. */
export const POPULARITY_EPSILON_SHARE = 0.3

/**
 * Counter names. Other components add to these with `node.metrics.count(name, n)`; the community cache uses
 * `cache.hits`, `cache.misses` (requests it answered from its store or had to fetch), its ledger apart:
 * `cache.origin.bytes` (bytes this node downloaded from origins, for itself or for members; also counted as
 * `external.bytes`), `cache.member.bytes` (bytes received from members; `bytes.received.peer` counts the block
 * downloads outside the URL cache), `cache.store.bytes` (bytes delivered
 * from its own store), and `external.bytes.saved` (bytes delivered to its requests that did not cross the
 * community's external link for them: own store, or a member that already held them). Summed over the nodes,
 * saved bytes count each request once: the member serving counts nothing saved.
 */
export const COUNTERS = {
  bytesServed: 'bytes.served',
  /** Of bytes.served, those served over the HTTP gateway (local only: /metrics). */
  bytesServedGateway: 'bytes.served.gateway',
  bytesReceivedPeer: 'bytes.received.peer',
  bytesReceivedMirror: 'bytes.received.mirror',
  cacheHits: 'cache.hits',
  cacheMisses: 'cache.misses',
  externalBytes: 'external.bytes',
  externalBytesSaved: 'external.bytes.saved',
  cacheOriginBytes: 'cache.origin.bytes',
  cacheMemberBytes: 'cache.member.bytes',
  cacheStoreBytes: 'cache.store.bytes',
  resourcesFetched: 'resources.fetched',
  errors: 'errors',
  uptimeSeconds: 'uptime.seconds'
} as const

/** Gauges: the largest value seen in a period (peers connected at once, peers on the node's own segment). */
export const GAUGES = {
  peersSeen: 'peers.seen',
  segmentPeers: 'segment.peers'
} as const

/**
 * What one release holds: a counter or gauge, the unit it is released in, and the most one node contributes per
 * period (values above are clamped: the sensitivity of that quantity). Caps are per week and scale with the
 * period's length (a day's caps are a seventh), except gauges and `newNode`.
 */
export interface Quantity {
  /** Key in the released report. */
  key: string
  /** Counter or gauge it comes from ('new.node' is 1 in a node's first period). */
  source: string
  /** Counter units per released unit (bytes per MB). */
  unit: number
  /** Most released units one node contributes per week. */
  capPerWeek: number
  /** Scales with the period's length. */
  scales: boolean
}

export const QUANTITIES: readonly Quantity[] = [
  { key: 'uptimeHours', source: COUNTERS.uptimeSeconds, unit: 3600, capPerWeek: 168, scales: true },
  { key: 'servedMB', source: COUNTERS.bytesServed, unit: 1e6, capPerWeek: 2000, scales: true },
  { key: 'peerMB', source: COUNTERS.bytesReceivedPeer, unit: 1e6, capPerWeek: 2000, scales: true },
  { key: 'mirrorMB', source: COUNTERS.bytesReceivedMirror, unit: 1e6, capPerWeek: 2000, scales: true },
  { key: 'externalMB', source: COUNTERS.externalBytes, unit: 1e6, capPerWeek: 2000, scales: true },
  { key: 'savedMB', source: COUNTERS.externalBytesSaved, unit: 1e6, capPerWeek: 2000, scales: true },
  { key: 'cacheHits', source: COUNTERS.cacheHits, unit: 1, capPerWeek: 1000, scales: true },
  { key: 'cacheMisses', source: COUNTERS.cacheMisses, unit: 1, capPerWeek: 1000, scales: true },
  { key: 'resources', source: COUNTERS.resourcesFetched, unit: 1, capPerWeek: 50, scales: true },
  { key: 'errors', source: COUNTERS.errors, unit: 1, capPerWeek: 100, scales: true },
  { key: 'peers', source: GAUGES.peersSeen, unit: 1, capPerWeek: 50, scales: false },
  { key: 'segmentPeers', source: GAUGES.segmentPeers, unit: 1, capPerWeek: 50, scales: false },
  { key: 'newNode', source: 'new.node', unit: 1, capPerWeek: 1, scales: false }
]

/** Gossipsub topic of secure aggregation rounds: keys, cohort digests, masked contributions, recoveries. */
export const SECURE_AGGREGATION_TOPIC = '/cmesh/analytics-secagg/1.0.0'

/** Largest secure aggregation message accepted (a contribution of a full cohort is about 7 KB). */
export const MAX_SECURE_MESSAGE_BYTES = 16 * 1024

/** Largest cohort: keys heard past it are ignored (each contribution carries a share for every member). */
export const MAX_COHORT = 64

/** Smallest cohort a round runs with; fewer keys heard and each node releases its own noisy figures. */
export const MIN_COHORT = 3

/** Rounds a node follows at once (periods in flight); messages of older rounds are forgotten. */
export const MAX_ROUNDS_TRACKED = 8

/**
 * Windows of a round (ms): keys are heard this long (twice the release check, so every node's key is in), then
 * cohort digests, contributions and recoveries each at most this long (less when every member has answered).
 */
export const DEFAULT_KEY_WINDOW_MS = 150_000
export const DEFAULT_STEP_WINDOW_MS = 60_000

/**
 * Epsilon weights of a secure release, by quantity (they add up to 1): the headline figure, bytes kept off the
 * external link (peerMB + savedMB), gets half; the eleven other figures share the other half. Popularity is not in
 * the secure sum (each node's catalog differs).
 */
export const SECURE_EPSILON_WEIGHTS: Readonly<Record<string, number>> = Object.fromEntries([
  ['peerMB', 0.25], ['savedMB', 0.25],
  ...['uptimeHours', 'servedMB', 'mirrorMB', 'externalMB', 'cacheHits', 'cacheMisses', 'resources', 'errors', 'peers', 'segmentPeers', 'newNode'].map(k => [k, 0.5 / 11])
])
