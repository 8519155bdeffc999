import type { UrlResponse } from './url-cache-interface.js'
import type { UrlEntry } from './url-index.js'
import type { OriginResponse } from './url-origin.js'

/** What obtaining a URL produced inside the cache: stored content (an entry), or an origin answer to pass on unstored. */
export interface Outcome {
  entry?: UrlEntry
  pass?: OriginResponse
  source: UrlResponse['source']
  from?: string
  revalidated: boolean
  stale: boolean
  /** Bytes that crossed the external link for this request: downloaded here, or by the member that fetched it for us. */
  externalBytes: number
  peerBytes: number
  /** The member that served it downloaded it from the origin for this request (so nothing was saved). */
  ownerFetched?: boolean
}
