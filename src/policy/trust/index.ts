/**
 * Trust: publisher keys, signed release manifests and bundles, strict reading of signed documents, and which keys
 * the trust store accepts for which release names.
 */
export { MAX_MANIFEST_BYTES, MAX_BUNDLE_BYTES } from './constants.js'
export {
  generatePublisherKey,
  loadPublisherKey,
  savePublisherKey,
  parsePublicKey,
  signPayload,
  verifyPayload,
  KEY_ALGORITHMS,
  type KeyAlgorithm,
  type PublisherKey
} from './keys.js'
export {
  signManifest,
  openEnvelope,
  openBundle,
  encodeBundle,
  checkManifest,
  checkReleaseName,
  checkVersion,
  type ReleaseManifest,
  type Mirror,
  type Dependency,
  type Envelope,
  type Signature,
  type OpenedRelease
} from './release-manifest.js'
export { TrustStore, checkRelease } from './trust.js'
