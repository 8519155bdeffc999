/** The block exchange protocol. */
export const BLOCKS_PROTOCOL = '/cmesh/blocks/1.0.0'
/** Largest encoded message accepted or sent; a longer length prefix closes the stream before any byte is read. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024
/** Entries (CIDs or blocks) in one message: small blocks travel many to a message, never one per round trip. */
export const MAX_ENTRIES = 1024
/** Block bytes packed into one message before it is sent. */
export const MESSAGE_TARGET_BYTES = 1024 * 1024

/**
 * Bytes between two wanted chunks of a file that an HTTP mirror downloads and discards to save a request: a
 * request costs a round trip, and 64 KiB at 10 Mbit/s take about 50 ms, one long-distance round trip.
 */
export const MIRROR_MAX_GAP = 64 * 1024
/**
 * Largest byte range asked of an HTTP mirror in one request (and the most read from a server that ignores
 * Range): bounds the chunks held per response and what a failed response wastes; request overhead is <1 %.
 */
export const MIRROR_MAX_RANGE = 8 * 1024 * 1024
/** HTTP requests in flight to one mirror at once (the fetcher's requests per source; browsers use 6 a host). */
export const MIRROR_CONCURRENCY = 4
/** An HTTP mirror that sends no headers, or no body bytes, for this long is given up on for that request. */
export const MIRROR_STALL_TIMEOUT_MS = 5000
