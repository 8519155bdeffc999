/**
 * Policy: upload limits, publisher keys, signed release manifests, and which keys are trusted for which names.
 */
export { TokenBucket, parseRate } from './token-bucket.js'
export { generatePublisherKey, loadPublisherKey, savePublisherKey, parsePublicKey, signPayload, verifyPayload, KEY_ALGORITHMS, type KeyAlgorithm, type PublisherKey } from './keys.js'
export { signManifest, openEnvelope, openBundle, encodeBundle, checkManifest, checkReleaseName, checkVersion, MAX_MANIFEST_BYTES, MAX_BUNDLE_BYTES, type ReleaseManifest, type Mirror, type Dependency, type Envelope, type Signature, type OpenedRelease } from './release-manifest.js'
export { TrustStore, checkRelease, TRUST_FILENAME } from './trust.js'
export { parseGovernance, governanceBytes, collectionTopic, mayPublish, mayModerate, retentionMs, PURPOSES, DEFAULT_PRIORITIES, type Governance, type Quotas, type Purpose } from './governance.js'
export { signAnnouncement, openAnnouncement, encodeUnsigned, checkAnnouncementId, hashOf, MAX_ANNOUNCEMENT_BYTES, type Announcement, type OpenedAnnouncement, type Resource, type RetractTarget } from './announcement.js'
export { admit, record, expire, liveShares, headKey, MAX_CLOCK_SKEW_MS, type CollectionState } from './collection-rules.js'
// community cache
export { shareability, isPrivateRequest, freshnessLifetime, freshUntil, isFresh, conditionalHeaders, parseCacheControl, type Shareability } from './http-cache.js'
export { owners, rendezvousScore, type Member } from './rendezvous.js'
export { GdsfPolicy, type EvictionItem, type GdsfOptions } from './eviction.js'
export { Popularity } from './popularity.js'
export { UploadScheduler, type UploadSchedulerOptions, type UploadRequest, type UploadGrant } from './upload-scheduler.js'
export { DeficitRoundRobin, Fifo } from './deficit-round-robin.js'
export { uploadGroup, type GroupingOptions } from './upload-groups.js'
export { AimdRate, type CongestionOptions } from './congestion.js'
export { Ledger, readLedger, type LedgerEntry, type LedgerRow } from './ledger.js'
export { Unchoker, type UnchokeOptions, type ChokeState } from './unchoker.js'
export { FloodGuard, type FloodOptions, type StrikeReason } from './flood-guard.js'
export { PriorityClasses, type PurposeRoots } from './priority-classes.js'
export { parsePolicy, readPolicy, DEFAULT_PRIORITY_CLASSES, type Policy, type FairnessPolicy, type PriorityClass } from './policy-file.js'
