/** Compression of a block message's payload (zblocks). */
export type CompressionAlg = 'br' | 'gzip'

/** The block exchange protocol: block bytes in binary blocks messages (see wire.ts). */
export const BLOCKS_PROTOCOL = '/cmesh/blocks/1.1.0'
/** The first version, still answered: its block bytes travel in DAG-CBOR `blocks` messages. */
export const BLOCKS_PROTOCOL_V1 = '/cmesh/blocks/1.0.0'
/** The versions a node answers and asks, newest first (a requester gets the newest both ends speak). */
export const BLOCKS_PROTOCOLS = [BLOCKS_PROTOCOL, BLOCKS_PROTOCOL_V1]
/**
 * Block requests one peer's channel carries at once (BlockChannel): the fetcher keeps at most 16 in flight to a
 * source, a server's flood guard strikes a peer with more than 16 requests pending (policy fairness.flood), and a
 * server queues 64 wants on a stream at most (more is a protocol violation).
 */
export const MAX_CHANNEL_REQUESTS = 16
/**
 * Bytes of blocks a channel has handed to the fetcher and the fetcher has not yet verified and stored, before it
 * reads the next message: storing overlaps receiving, and what is held stays bounded.
 */
export const MAX_CHANNEL_HANDOFF_BYTES = 4 * 1024 * 1024
/** A block channel with no request for this long closes its stream (ms); the next request opens another. */
export const CHANNEL_IDLE_MS = 10_000
/** Keys of blocks a channel took back and still forgives if they come (bounded: the oldest are forgotten). */
export const MAX_CHANNEL_WITHDRAWN = 8 * 1024
/** Largest encoded message accepted or sent; a longer length prefix closes the stream before any byte is read. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024
/** Entries (CIDs or blocks) in one message: small blocks travel many to a message, never one per round trip. */
export const MAX_ENTRIES = 1024
/** Block bytes packed into one message before it is sent. */
export const MESSAGE_TARGET_BYTES = 1024 * 1024
/**
 * Incoming blocks messages are read into pooled buffers of this size (frame-pool.ts): a server fills a message
 * until it holds MESSAGE_TARGET_BYTES, so it can pass that by one block (128 KiB for the largest leaf of a
 * default import), and the header adds at most 1024 entries' CIDs and lengths (under 64 KiB). Larger messages
 * get a buffer of their own.
 */
export const FRAME_POOL_BUFFER_BYTES = MESSAGE_TARGET_BYTES + 256 * 1024
/** Frames smaller than this are not pooled: a small allocation comes from memory already in use. */
export const FRAME_POOL_MIN_BYTES = 64 * 1024
/**
 * Pooled frame buffers kept for reuse (10 MiB): a channel holds about five while the fetcher stores what it
 * handed on (MAX_CHANNEL_HANDOFF_BYTES) and reads the next; more given back are left to the collector.
 */
export const FRAME_POOL_MAX_FREE = 8
/**
 * Bytes the block protocol's requesters may make this node hold at once, over all their connections and streams:
 * partial frames being read, wants queued for an answer, answers waiting in send queues (src/sync/exchange/buffer-budget.ts).
 * An honest requester holds little (a queued want of the fetcher's 128 CIDs: ~80 KB; an answer drains as it is
 * sent), so 64 MiB lets about 30 slow readers have a 1 MiB answer queued each, or 15 maximal frames be in flight,
 * while an attack moves a ~150 MB daemon to ~250 MB at most instead of 1.4 GB (12 connections of 16 partial 4 MiB
 * frames, measured).
 */
export const BUFFER_BUDGET_BYTES = 64 * 1024 * 1024
/** Heap a queued want holds per CID beyond its encoded bytes: 1024 CIDs decode to about 615 KB (measured, Node 22). */
export const QUEUED_CID_BYTES = 600
/**
 * Memory a buffered piece of a frame costs besides its bytes (a kept 1-byte piece: about 250 bytes, measured), charged
 * with it: a peer that trickles a frame in 1-byte yamux frames fills the budget as fast as it fills our memory.
 */
export const FRAME_PIECE_BYTES = 256

/** Blocks travel compressed when that pays, unless a node turns it off. */
export const DEFAULT_COMPRESS = true
/** Compression a sender uses (receivers accept 'br' and 'gzip'): brotli beat gzip at every level (bench:compression). */
export const COMPRESSION_ALG: CompressionAlg = 'br'
/** Brotli quality: 1 MiB of package text in 2.5 ms to 22 % (q4: 6.5 ms, 18 %), so one core outruns 1 Gbit/s. */
export const BROTLI_QUALITY = 1
/** gzip level when gzip is used (tests, bench:compression): level 1 is gzip's fastest. */
export const GZIP_LEVEL = 1
/** Encoded messages shorter than this go plain: compressing one (~80 us) costs more than its few saved bytes take to send. */
export const MIN_COMPRESS_BYTES = 1024
/** Slices test-compressed before a whole message, spread over it, so one compressible block does not decide for all. */
export const COMPRESS_SAMPLE_SLICES = 4
/** Bytes of each sample slice: incompressible data (media, archives) costs only 4 x 16 KiB of compression. */
export const COMPRESS_SAMPLE_SLICE_BYTES = 16 * 1024
/**
 * Most messages sent plain, without a sample, after samples that did not pay: the skip doubles with each failed
 * sample up to this, and one that pays ends it. A seeder of media spends a sample's compression per 16 messages
 * instead of per message; compressible data after incompressible waits at most this many messages.
 */
export const MAX_COMPRESS_SKIP = 16
/** Peers whose compression verdicts are kept; past this the verdicts are forgotten (they are a hint, not state). */
export const MAX_COMPRESS_GATES = 1024
/** Fraction the compressed message (sample, then whole) must save, or the message is sent plain. */
export const MIN_COMPRESSION_GAIN = 0.1
/** zlib output buffer: one thread-pool round trip per buffer, so 1 MiB inflates in 4 round trips, not 64. */
export const ZLIB_CHUNK_BYTES = 256 * 1024

/** The holdings protocol: peers fetching the same file trade what they hold of its leaves (holdings-service.ts). */
export const HOLDINGS_PROTOCOL = '/cmesh/holdings/1.0.0'
/** A have batch goes this long after its first leaf at most (ms): a handful of messages a second per peer, not one a block. */
export const HAVE_BATCH_MS = 250
/** A have batch goes at once when it holds this many leaves (16 MiB of 256 KiB chunks). */
export const HAVE_BATCH_LEAVES = 64
/** Files with fewer leaves are not traded: one chunk is fetched from whoever sent its file node. */
export const MIN_TRADED_LEAVES = 2
/** Files one fetch trades on at most (a directory of many files trades on its first ones only). */
export const MAX_TRADED_FILES_PER_FETCH = 256
/** Holdings messages one inbound stream may carry (one per file of a fetch a peer just joined, at most). */
export const MAX_HOLDINGS_FRAMES_PER_STREAM = MAX_TRADED_FILES_PER_FETCH
/** Concurrent holdings streams a peer may open to us, per connection. */
export const MAX_HOLDINGS_INBOUND_STREAMS = 8
/** Messages waiting to go to one peer at most; past it news is dropped (it is a hint, and a slow peer can do without). */
export const MAX_HOLDINGS_QUEUED_PER_PEER = 64
/** A holdings message not sent within this long is given up (ms). */
export const HOLDINGS_SEND_TIMEOUT_MS = 10_000
/** Leaves of all the files a node super-seeds that it indexes at most (super-seed.ts): about 20 MB of index. */
export const MAX_SUPER_SEEDED_LEAVES = 1 << 17
/** Files found not held whole here, remembered so a message about one does not decode it again. */
export const MAX_SUPER_SEEDED_NOT_OURS = 4096
/** Peers a super-seeder remembers as trading (they told it holdings); they are forgotten when they disconnect. */
export const MAX_SUPER_SEED_TRADERS = 65_536
/**
 * A super-seeder holds back an answer of leaves it sent another peer this recently (ms), and nobody claims yet:
 * about the time that peer's have takes to come (verification, a batch of HAVE_BATCH_MS, a stream).
 */
export const SUPER_SEED_HOLD_MS = 2 * HAVE_BATCH_MS
