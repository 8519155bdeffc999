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
  externalBytes: number
  peerBytes: number
}
