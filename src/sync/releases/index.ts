/**
 * Signed releases: publishing, updating from peers and mirrors, and the release exchange protocol.
 */
export { Releases, readBundle, DEFAULT_RELEASE_LIFETIME_MS, type PublishOptions, type PublishResult, type UpdateOptions, type UpdateResult, type UpdateProgressEvent, type ReleaseComponents } from './releases.js'
export { ReleaseExchange, RELEASE_PROTOCOL, type BundleSource, type BundleQuestion, type ReleaseExchangeComponents } from './release-exchange.js'
