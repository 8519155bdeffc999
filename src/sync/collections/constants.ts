/** Tunables of community collections. */

/** Collections: peers are asked for the heads of the joined collections this often, besides on connect. */
export const ANTI_ENTROPY_INTERVAL_MS = 30_000
/** Collections: one resource's download is given up after this long (and retried later). */
export const COLLECTION_FETCH_TIMEOUT_MS = 10 * 60_000
/** The owner of the collections' pins (Blockstore.pin): one for all joined collections, which agree among themselves. */
export const COLLECTION_PIN = 'collections'
/** Collections: a resource whose download failed is tried again after this long (doubling each time, up to 30 s), or when a peer connects. */
export const COLLECTION_RETRY_MS = 2_000
/** Collections: expired announcements are swept and auto-sync re-run this often. */
export const COLLECTION_SWEEP_MS = 60_000
