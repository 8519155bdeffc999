/**
 * The community cache: URLs fetched once for the community (claims, owners, the index), the origin client, the
 * forward proxy, and the destination guard that decides where this node may connect for others.
 */
export {
  UrlCache,
  normalizeUrl,
  describeResponse,
  type UrlCacheOptions,
  type UrlCacheComponents,
  type UrlResponse,
  type FetchUrlOptions,
  type CacheEvent,
  type UrlCacheStats
} from './url-cache.js'
export { UrlCommunity } from './url-community.js'
export { signMessage, openMessage, type UrlClaim, type MemberStatus, type CacheMessage } from './url-claims.js'
export { UrlIndex, type UrlEntry } from './url-index.js'
export {
  startProxy,
  isLocalAddress,
  lanAddresses,
  parseConnectTarget,
  DEFAULT_PROXY_PORT,
  DEFAULT_CONNECT_PORTS,
  type HttpProxy,
  type ProxyOptions
} from './http-proxy.js'
export { DestinationGuard, classifyAddress, type AddressClass, type DestinationOptions } from './destination.js'
export { URL_PROTOCOL, URL_TOPIC } from './constants.js'
