/**
 * Signed releases: publishing, updating from peers and mirrors, and the release exchange protocol.
 */
export { DEFAULT_RELEASE_LIFETIME_MS, RELEASE_PROTOCOL } from './constants.js'
export {
  Releases,
  readBundle,
  type PublishOptions,
  type PublishResult,
  type UpdateOptions,
  type UpdateResult,
  type UpdateProgressEvent,
  type ReleaseComponents
} from './releases.js'
export { ReleaseExchange, type BundleSource, type BundleQuestion, type ReleaseExchangeComponents } from './release-exchange.js'
