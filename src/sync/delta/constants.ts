import { MAX_BLOCK_SIZE } from '../../store/constants.js'

/** The delta protocol: a block asked for as a delta against blocks the asker holds (see protocol.ts). */
export const DELTA_PROTOCOL = '/cmesh/delta/1.0.0'
/** Largest block a delta may produce, and largest delta accepted: the block size cap. */
export const MAX_DELTA_TARGET = MAX_BLOCK_SIZE
/** Copy and insert operations in one delta at most (a 1 MiB block rebuilt from 16-byte pieces needs 64 Ki). */
export const MAX_DELTA_OPS = 65536
/** Base blocks named for one wanted block at most: the old blocks overlapping its place. */
export const MAX_BASES = 4
/** Bytes of base blocks one wanted block may name at most (the seeder reads them all to encode the delta). */
export const MAX_BASE_BYTES = 4 * MAX_BLOCK_SIZE
/** Wanted blocks in one delta request at most. */
export const MAX_DELTA_WANTS = 256
/** Largest encoded request or answer message. */
export const MAX_DELTA_MESSAGE = 4 * MAX_BLOCK_SIZE + 64 * 1024
/** Delta bytes a seeder packs into one answer; wanted blocks past it are answered "no" (fetched as blocks). */
export const DELTA_ANSWER_TARGET = MAX_BLOCK_SIZE
/**
 * A seeder answers with a delta only when it is smaller than this fraction of the block: a delta that saves little
 * is answered "no" and the block comes through the block exchange, compressed there.
 */
export const MAX_DELTA_RATIO = 0.75
/**
 * Bytes (wanted blocks and their bases) a seeder reads and encodes for one request at most; wants past it are
 * answered "no". Encoding runs at about 40 ns a byte (0.35 ms for an 8 KiB block, measured at load 11), so one
 * request costs at most about 0.3 s of CPU, in slices (the seeder yields between wants).
 */
export const MAX_ANSWER_WORK = 8 * MAX_BLOCK_SIZE
/** A delta request unanswered this long is given up (its blocks come through the block exchange). */
export const DELTA_ASK_TIMEOUT_MS = 30_000
/**
 * Delta streams one connection may have open at once: the fetcher keeps up to 16 requests in flight to a source,
 * each of which may ask deltas first.
 */
export const DELTA_MAX_INBOUND_STREAMS = 32
/** Failed delta requests (streams refused or reset, timeouts) after which a source is asked for blocks only. */
export const DELTA_MAX_ASK_FAILURES = 3
