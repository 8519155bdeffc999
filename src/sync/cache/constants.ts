/** Defaults of the community cache (src/sync/url-*.ts); each is documented where UrlCacheOptions uses it. */

/** Request/answer protocol: "do you hold this URL", and "fetch it for the community" asked of its owner. */
export const URL_PROTOCOL = '/cmesh/url/1.0.0'
/** Gossipsub topic of signed URL claims and members' status (free capacity, popularity aggregates). */
export const URL_TOPIC = '/cmesh/url-cache/1.0.0'
/** Owners of each URL's content (rendezvous hashing weighted by free capacity). */
export const DEFAULT_OWNERS = 2
/** The owner of the community cache's pins (Blockstore.pin). */
export const CACHE_PIN = 'cache'
/** Cache budget when the store has no capacity set: 1 GiB. With one: half of it. */
export const DEFAULT_CACHE_BYTES = 1024 ** 3
/** Share of the store's capacity the cache may use when the store has a capacity. */
export const DEFAULT_CACHE_SHARE = 0.5
/** Largest response the cache stores (bigger ones are passed through, not stored). */
export const DEFAULT_MAX_OBJECT_BYTES = 512 * 1024 * 1024
/** Longest URL accepted. */
export const MAX_URL_LENGTH = 4096
/** Popularity counts halve every hour. */
export const POPULARITY_HALF_LIFE_MS = 3600_000
/** A member reports its status (free capacity and its most requested URLs) this often. */
export const STATUS_INTERVAL_MS = 10_000
/**
 * A member gossips its status again this soon at most when peers connect (a quarter interval if that is
 * shorter): in a crowd, where peers connect many times a second, a status per connection flooded every member.
 */
export const STATUS_MIN_GAP_MS = 2_000
/**
 * A member hearing of a new member gossips its status soon (so the newcomer learns of it before the next interval)
 * with a chance of this many over the members it knows: about this many welcome each newcomer. Every member
 * answering floods the community once per newcomer, and a crowd joining at once (55 nodes) kept every member
 * publishing every STATUS_MIN_GAP_MS, and verifying everyone else's statuses took about 7 % of the crowd's CPU.
 * A newcomer gossips its own status as its first this-many peers connect (its first peers may come late), not
 * on every connection.
 */
export const STATUS_WELCOMES = 4
/** A member not heard from for this many intervals is no longer an owner candidate. */
export const STATUS_MISSED_INTERVALS = 3
/** URLs a status report carries at most. */
export const STATUS_TOP_URLS = 256
/** Idle prefetch: check this often whether popular content should be fetched ahead. */
export const PREFETCH_INTERVAL_MS = 30_000
/** Prefetch only when no download has run for this long (the link is idle). */
export const PREFETCH_IDLE_MS = 5_000
/** Objects prefetched at most per round. */
export const PREFETCH_PER_ROUND = 4
/** Connecting to the origin and receiving its headers takes at most this long. */
export const ORIGIN_HEADERS_TIMEOUT_MS = 15_000
/** An owner asked to fetch for the community answers within this long, or the asker fetches itself. */
export const OWNER_ASK_TIMEOUT_MS = 60_000
/** Largest frame of the URL protocol (a claim: URL, headers, signature). */
export const MAX_URL_MESSAGE_BYTES = 64 * 1024
/** Claims a node remembers from gossip at most (oldest dropped first). */
export const MAX_REMOTE_CLAIMS = 100_000

/**
 * A URL whose response was not shareable goes straight to the origin for this long (Varnish's hit-for-pass):
 * its owner is not asked to fetch it again only to find it private.
 */
export const HIT_FOR_PASS_MS = 5 * 60_000

/** Downloads one member may have running at another's (as the URLs' owner) at once. */
export const MAX_FORWARDED_PER_PEER = 8

/** A node that knows no member yet asks this many peers whether they hold a URL, waiting this long for them. */
export const ASK_AROUND_PEERS = 8
export const ASK_AROUND_TIMEOUT_MS = 3000

/** The member list (and weights) used for ownership is refreshed at most this often. */
export const MEMBERS_VIEW_MS = 500
