/** Tunables of the HTTP gateway: where it listens, and the media types and cache header it answers with. */

/** Interface a gateway listens on unless told otherwise: loopback, since it serves everything the store holds. */
export const DEFAULT_GATEWAY_HOST = '127.0.0.1'
/** Port a gateway listens on unless told otherwise: 0 lets the system pick a free one. */
export const DEFAULT_GATEWAY_PORT = 0

/** Media type of a single block (trustless gateway: Accept it, or ?format=raw). */
export const RAW_MEDIA_TYPE = 'application/vnd.ipld.raw'
/** Media type of a CAR (trustless gateway: Accept it, or ?format=car). */
export const CAR_MEDIA_TYPE = 'application/vnd.ipld.car'
/** Every CAR served is walked depth-first, and says whether blocks repeat (dups=y) or come once (dups=n). */
export const CAR_CONTENT_TYPE = `${CAR_MEDIA_TYPE}; version=1; order=dfs; dups=n`
/** The same with blocks sent every time the walk reaches them. */
export const CAR_DUPS_CONTENT_TYPE = `${CAR_MEDIA_TYPE}; version=1; order=dfs; dups=y`
/** Most blocks a dups=y CAR sends: a DAG sharing one node at every level doubles at each, so the walk is capped. */
export const MAX_DUPS_BLOCKS = 1_000_000
/** A response named by a CID never changes: cacheable by anyone for 48 weeks (as IPFS gateways say it), immutable. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=29030400, immutable'
