/**
 * The community cache: HTTP cacheability, rendezvous hashing for owners, GDSF eviction and popularity.
 */
export {
  shareability,
  isPrivateRequest,
  freshnessLifetime,
  freshUntil,
  isFresh,
  conditionalHeaders,
  parseCacheControl,
  type Shareability
} from './http-cache.js'
export { owners, rendezvousScore, type Member } from './rendezvous.js'
export { GdsfPolicy, type EvictionItem, type GdsfOptions } from './eviction.js'
export { Popularity } from './popularity.js'
