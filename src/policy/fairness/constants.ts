/**
 * Defaults of upload fairness and seeding incentives (src/policy/fairness/upload-scheduler.ts and its parts). A community
 * changes them in `<repo>/policy.json` (src/policy/fairness/policy-file.ts); each doc names the policy key.
 */

/** fairness.maxShare: most of this node's upload one group of peers gets while other groups wait. */
export const DEFAULT_MAX_SHARE = 0.25
/** fairness.shareWindowMs: shares are measured over this sliding window (the bench's 1 s windows). */
export const DEFAULT_SHARE_WINDOW_MS = 1000
/** Buckets of the sliding share window (resolution: window / buckets). */
export const SHARE_WINDOW_BUCKETS = 10
/** fairness.quantumBytes: bytes a weight-1 flow may send per round of deficit round robin. */
export const DEFAULT_QUANTUM_BYTES = 256 * 1024
/**
 * fairness.messageBytes: block bytes in one answer message while other groups wait (1 MiB when alone): at
 * 8 MB/s that is 32 turns a second, fine enough for shares over 1 s windows.
 */
export const DEFAULT_FAIR_MESSAGE_BYTES = 256 * 1024
/** Under an upload limit, a message sent while others wait takes at most this long at the limit... */
export const MESSAGE_TIME_MS = 50
/** ...but carries at least this many bytes (per-message costs stay small). */
export const MIN_MESSAGE_BYTES = 16 * 1024
/** fairness.slots: answer messages being sent at once, over all peers (more keeps a fast link busy). */
export const DEFAULT_UPLOAD_SLOTS = 4
/**
 * Credit an idle rate-limited scheduler saves up, as the upload limit's token bucket did: a quarter second's worth
 * of bytes, and at least 256 KiB, so a small request to an idle node is answered at once.
 */
export const PACING_BURST_MS = 250
export const PACING_BURST_BYTES = 256 * 1024
/** fairness.groupPrefixV4: remote IPv4 peers in one /24 count as one group (one household, one Sybil host). */
export const DEFAULT_GROUP_PREFIX_V4 = 24
/** fairness.groupPrefixV6: IPv6 peers in one /64 (one site's subnet) count as one group. */
export const DEFAULT_GROUP_PREFIX_V6 = 64
/**
 * fairness.segmentPrefixV4: peers on our own segment (a subnet of one of our interfaces) are grouped by address
 * (/32): a neighbourhood's LAN is one /24, and grouping it whole would make every neighbour one group.
 */
export const DEFAULT_SEGMENT_PREFIX_V4 = 32

/** fairness.congestion.targetDelayMs: queueing delay above the floor that counts as congestion. */
export const DEFAULT_TARGET_DELAY_MS = 250
/** fairness.congestion.minRate: the adaptive rate never goes below this (bytes/s). */
export const DEFAULT_MIN_RATE = 256 * 1024
/** AIMD multiplicative decrease: rate *= this on congestion. */
export const AIMD_DECREASE = 0.7
/** AIMD additive increase per interval, as a fraction of the ceiling (or of the peak measured throughput). */
export const AIMD_INCREASE_FRACTION = 0.02
/** AIMD: an increase step at most this often, a decrease at most once per DECREASE interval. */
export const AIMD_INCREASE_INTERVAL_MS = 100
export const AIMD_DECREASE_INTERVAL_MS = 1000
/** Throughput is compared over windows this long ("falling" = the last window below the one before by 10 %). */
export const THROUGHPUT_WINDOW_MS = 500
/** The delay floor (the smallest delay seen) is forgotten after this long, so a changed path is relearned. */
export const DELAY_FLOOR_MS = 10_000

/** fairness.unchoke.slots: peers that upload to us most (last 20 s) get the unchoked weight. */
export const DEFAULT_UNCHOKE_SLOTS = 4
/** fairness.unchoke.optimisticIntervalMs: the optimistic slot goes to another choked peer this often. */
export const DEFAULT_OPTIMISTIC_INTERVAL_MS = 30_000
/** fairness.unchoke.rechokeIntervalMs: unchoked peers are chosen again this often (BitTorrent: 10 s). */
export const DEFAULT_RECHOKE_INTERVAL_MS = 10_000
/** Rate a peer uploads to us is averaged over about this long (BitTorrent: 20 s). */
export const RECIPROCATION_WINDOW_MS = 20_000
/** A peer first seen this recently is a newcomer: three times as likely to get the optimistic slot. */
export const NEWCOMER_MS = 60_000
/** fairness.unchoke.weight: deficit-round-robin weight of an unchoked (or optimistically unchoked) peer. */
export const DEFAULT_UNCHOKED_WEIGHT = 4
/** fairness.unchoke.seederWeight: weight factor of a peer that gave back at least what it took from us. */
export const DEFAULT_SEEDER_WEIGHT = 2
/**
 * fairness.unchoke.takerWeight: weight of a choked peer that never gave us anything, while others give (a
 * free-rider, or a newcomer with nothing to give yet: the optimistic slot lets it in).
 */
export const DEFAULT_TAKER_WEIGHT = 0.25
/** A free unchoke slot is filled at once by a peer that gives (not at the next rechoke), at most this often (ms). */
export const UNCHOKE_REFILL_MS = 1000

/** fairness.flood.maxPendingRequests: answers queued for one peer beyond which each new one is a strike. */
export const DEFAULT_MAX_PENDING_REQUESTS = 16
/** fairness.flood.duplicateWindowMs: wanting again a block we sent the peer this recently is a strike. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 30_000
/** Blocks sent to a peer remembered for duplicate detection (the most recent). */
export const DUPLICATE_MEMORY = 4096
/** Peers the flood guard keeps records of (idle ones beyond it are forgotten, oldest first). */
export const MAX_GUARDED_PEERS = 1024
/** fairness.flood.throttleMs: a peer with a strike is throttled (weight x THROTTLED_WEIGHT) this long. */
export const DEFAULT_THROTTLE_MS = 30_000
export const THROTTLED_WEIGHT = 0.25
/** Score lost per strike (flooding, ignoring cancels). */
export const STRIKE_SCORE = 1

/** The ledger file is written at most this often while it changes, and when the node stops. */
export const LEDGER_FLUSH_MS = 10_000
/** Peers the ledger keeps (least recently seen dropped first). */
export const LEDGER_MAX_PEERS = 10_000
/** Blocks a priority class expands its roots to at most (its DAGs walked in the store). */
export const PRIORITY_MAX_BLOCKS = 100_000
/** The policy file is checked for changes this often. */
export const POLICY_RELOAD_MS = 10_000
