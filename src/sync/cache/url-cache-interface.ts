import type { PeerId, PrivateKey, Libp2p } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Blockstore } from '../../store/interface.js'
import type { DestinationGuard } from './destination.js'
import type { BlockSource } from '../fetch/fetcher.js'
import type { Pubsub } from '../net/pubsub.js'

/** Types of the community cache (src/sync/cache/url-cache.ts): its options, events, answers and components. */

export interface UrlCacheOptions {
  /** Owners kept per URL (rendezvous hashing weighted by free capacity). @default DEFAULT_OWNERS (2) */
  owners?: number
  /** Bytes of content the cache may hold. @default half the store's capacity, else DEFAULT_CACHE_BYTES (1 GiB) */
  cacheBytes?: number
  /** Responses larger than this are passed through, not stored. @default DEFAULT_MAX_OBJECT_BYTES (512 MiB) */
  maxObjectBytes?: number
  /** Status gossip interval. @default STATUS_INTERVAL_MS (10 s) */
  statusIntervalMs?: number
  /** Idle prefetch interval; 0 turns prefetch off. @default PREFETCH_INTERVAL_MS (30 s) */
  prefetchIntervalMs?: number
  /** Prefetch only after no request has run for this long (the link is idle). @default PREFETCH_IDLE_MS (5 s) */
  prefetchIdleMs?: number
  /** Popularity half-life. @default POPULARITY_HALF_LIFE_MS (1 h) */
  popularityHalfLifeMs?: number
  /** How long an owner asked to fetch may take. @default OWNER_ASK_TIMEOUT_MS (60 s) */
  ownerAskTimeoutMs?: number
  /**
   * Share URLs whose host resolves to loopback or to this machine's own addresses. They name a different server
   * on every machine, so by default they are fetched for the asker alone, never shared, and peers may not ask this
   * node to fetch them (no reaching this machine's own services on a neighbour's behalf). Link-local, unspecified
   * (0.0.0.0, [::]) and multicast hosts are never shared. Tests, benches and demos running a whole community on
   * one machine turn it on. @default false, or true when CMESH_SHARE_LOOPBACK=1
   */
  allowLoopbackOrigins?: boolean
  /**
   * Share URLs whose host resolves to a private range (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): a
   * community mirror on the LAN. Off, such URLs are fetched for the asker alone and never for a peer (a
   * neighbour's router admin page is nobody's to fetch). @default false
   */
  allowPrivateOrigins?: boolean
  /** Called on every cache event (for analytics: hits, misses, external and peer bytes). */
  onCacheEvent?: (event: CacheEvent) => void
}

/**
 * What happened for one request. `hit`: served from this node's store; `peer`: content came from a member
 * (`bytes` verified bytes moved); `external`: bytes downloaded from the origin by this node (for itself or for a
 * member that asked it, as the URL's owner); `miss`: not held here; `revalidated`: the origin confirmed a stored
 * response (304); `stale`: a stale response served because the origin could not be reached; `private`: passed
 * through, neither stored nor shared; `evict`: removed. The ledger of a request answered: `store`: bytes
 * delivered from this node's store; `saved`: bytes delivered that did not cross the community's external link for
 * this request (own store, or a member that already held them). Each byte saved is counted once, by the node
 * whose request it answered: a member serving it counts nothing saved.
 */
export interface CacheEvent {
  kind: 'hit' | 'miss' | 'external' | 'peer' | 'revalidated' | 'stale' | 'private' | 'evict' | 'store' | 'saved'
  url: string
  bytes: number
}

export interface FetchUrlOptions {
  /** Request headers (Authorization or Cookie make the request private: not stored, not shared). */
  headers?: Record<string, string>
  signal?: AbortSignal
  /** Throw ERR_ORIGIN_STATUS when the origin answers anything but 200 (the proxy passes such answers on). @default true */
  throwOnStatus?: boolean
  /**
   * For a request made on someone else's behalf (the proxy's clients): content that is not shared is fetched
   * only from addresses this guard permits. @default none (the local user's own request)
   */
  guard?: DestinationGuard
}

/** The answer to fetchUrl: metadata, and the body (read it once). */
export interface UrlResponse {
  url: string
  status: number
  /** Root of the content in the store; undefined for a response that was passed through (private, not shareable). */
  cid?: CID
  size?: number
  headers: Record<string, string>
  /** Where the bytes came from for this request. */
  source: 'local' | 'peer' | 'origin'
  /**
   * The proxy's `X-Cache`: HIT (this node's store), MEMBER (a member that held it served it; the origin was not
   * contacted for this request), MISS (the origin was: by this node, or by the member that fetched it for us).
   */
  cache: CacheResult
  /** The peer the content came from, when source is 'peer'. */
  from?: string
  /** The origin confirmed the stored response (304) for this request. */
  revalidated: boolean
  /** Served stale because the origin could not be reached. */
  stale: boolean
  /** Shared with the community (stored and announced). */
  shared: boolean
  /** Bytes that crossed the external link for this request (origin bytes): here, or at the member that fetched it for us. */
  externalBytes: number
  /** Bytes received from members for this request. */
  peerBytes: number
  /** Bytes delivered from this node's store. */
  storeBytes: number
  /** Bytes delivered that did not cross the community's external link for this request. */
  savedBytes: number
  /** The content; a byte range of it for stored content (a passed-through answer ignores the range). */
  body: (range?: { offset: number, length: number }) => AsyncIterable<Uint8Array>
}

export type CacheResult = 'HIT' | 'MEMBER' | 'MISS'

export interface UrlCacheStats {
  entries: number
  usedBytes: number
  cacheBytes: number
  members: number
  hits: number
  misses: number
  /** Bytes this node downloaded from origins (for its own requests and for members'). */
  externalBytes: number
  /** Bytes received from members. */
  peerBytes: number
  /** Bytes delivered from this node's store to its requests. */
  storeBytes: number
  /** Bytes delivered to this node's requests without crossing the external link for them. */
  savedBytes: number
  servedBytes: number
}

export interface UrlCacheComponents {
  store: Blockstore
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getPeers' | 'peerId' | 'addEventListener' | 'removeEventListener'>
  pubsub: Pubsub
  /** The node's key: claims and status are signed with it. */
  privateKey: PrivateKey
  /** Block sources asking one peer each (the block exchange). */
  blocks: { source: (peer: PeerId, id: string) => BlockSource }
  /** Content the cache must never evict: the roots the joined collections hold. @default nothing */
  collections?: { holds: (root: string) => boolean }
}

/** A response's metadata as JSON (the API and `cmesh get-url --json`). */
export function describeResponse (r: UrlResponse): Record<string, unknown> {
  return {
    url: r.url,
    status: r.status,
    cid: r.cid?.toString() ?? null,
    size: r.size ?? null,
    source: r.source,
    cache: r.cache,
    from: r.from ?? null,
    revalidated: r.revalidated,
    stale: r.stale,
    shared: r.shared,
    originBytes: r.externalBytes,
    memberBytes: r.peerBytes,
    storeBytes: r.storeBytes,
    savedBytes: r.savedBytes,
    contentType: r.headers['content-type'] ?? null
  }
}
