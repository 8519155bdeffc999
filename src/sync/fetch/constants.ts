/** Tunables of fetching: HTTP mirrors read by byte range. */

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
