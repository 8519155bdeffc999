/** Tunables of the community cache's rules: which headers are kept, heuristic freshness, and eviction weights. */

/** Header names kept with a cached response (the rest is hop-by-hop or specific to one exchange). */
export const STORED_HEADERS = [
  'content-type',
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'date',
  'age',
  'content-language',
  'content-disposition'
] as const

/** Heuristic freshness (no max-age, no Expires, a Last-Modified): this fraction of the time since modification. */
export const HEURISTIC_FRACTION = 0.1
/** Heuristic freshness is capped at a day (RFC 9111 §4.2.2 leaves the cap to the cache; Squid's default is 3 days). */
export const HEURISTIC_MAX_MS = 24 * 3600_000

/** GDSF: fixed cost of a request in bytes (headers, round trips), so a small object's hit counts for more. */
export const DEFAULT_REQUEST_COST = 4096
/** GDSF: priority multiplier of items this node does not own (another member is responsible for them: they go first). */
export const DEFAULT_NON_OWNER_FACTOR = 0.25
