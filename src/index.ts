/**
 * CommunityMesh: a peer-to-peer, content-addressed storage engine with Merkle DAG sync.
 *
 * ```ts
 * import { createStore, importPath, cat } from 'communitymesh'
 * const store = createStore({ repo: './my-repo' })
 * const { cid } = await importPath(store, './release-1.2.0')
 * for await (const bytes of cat(store, cid)) process.stdout.write(bytes)
 * await store.close()
 * ```
 *
 * The public surface, by name: factories, import and export, CAR, verification, the node and its services'
 * option and result types, publisher keys, reports and errors. Wire codecs and test harnesses are internal.
 */
export { CID } from 'multiformats/cid'

// the block store
export {
  createStore,
  resolveRepo,
  USER_PIN,
  type StoreOptions,
  type Blockstore,
  type Block,
  type PutResult,
  type RootInfo,
  type StoreStat,
  type GcResult,
  type StoreSession,
  type PinRecord
} from './store/index.js'

// files and directories as DAGs
export { parseCid, type ChunkerOptions, type HashName, type DagNode, type DirEntry, type EntryKind } from './dag/index.js'
export { importPath, importBytes, importStream, type ImportOptions, type ImportFormat, type ImportResult, type ImportProgressEvent, type ArchiveReport } from './dag/index.js'
export {
  cat,
  ls,
  stat,
  resolvePath,
  exportTo,
  type CatOptions,
  type ExportOptions,
  type ExportProgressEvent,
  type StatResult,
  type ReadStore
} from './dag/index.js'
export { exportCar, importCar, carStream, type CarOptions, type CarExportResult, type CarImportResult, type CarProgressEvent } from './dag/index.js'
export { verifyStore, type VerifyOptions, type VerifyReport, type VerifyProgressEvent } from './dag/index.js'

// the node and its services
export { createNode, CmeshNode, type NodeOptions, type PeerInfo } from './node/index.js'
export { type FetchOptions, type FetchResult, type FetchProgressEvent, type BlockSource } from './sync/index.js'
export { startGateway, type Gateway, type GatewayInit } from './sync/index.js'
export { readBundle, type PublishOptions, type PublishResult, type UpdateOptions, type UpdateResult, type UpdateProgressEvent } from './sync/index.js'
export {
  type CollectionsOptions,
  type JoinOptions,
  type ShareOptions,
  type RetractOptions,
  type BrowseQuery,
  type BrowseEntry,
  type CollectionInfo
} from './sync/index.js'
export { type UrlCacheOptions, type UrlResponse, type FetchUrlOptions, type CacheEvent, type UrlCacheStats } from './sync/index.js'
export { startProxy, DEFAULT_PROXY_PORT, type HttpProxy, type ProxyOptions, type DestinationOptions } from './sync/index.js'

// publishers, releases and trust
export { generatePublisherKey, loadPublisherKey, savePublisherKey, type KeyAlgorithm, type PublisherKey } from './policy/index.js'
export { TrustStore, type ReleaseManifest, type Mirror, type Dependency } from './policy/index.js'
export { parseGovernance, type Governance, type Purpose } from './policy/index.js'

// community reports and monitoring
export {
  combineReports,
  renderReport,
  readAnalyticsPolicy,
  startMonitor,
  REPORT_FORMATS,
  type CommunityReport,
  type ReportFormat,
  type AnalyticsPolicy,
  type AnalyticsOptions
} from './analytics/index.js'

// errors: every one carries a stable `code`
export {
  CmeshError, BlockNotFoundError, BlockCorruptError, BlockTooLargeError, StoreFullError, RepoError, StoreClosedError, InvalidCidError,
  InvalidNodeError, UnsupportedHashError, InvalidOptionError, PathNotFoundError, UnsafePathError, ExportConflictError, NotInDagError,
  BlockPinnedError, InvalidCarError, AbortError, ChunkWorkerError, DetachedInputError, UnsupportedFileTypeError, FetchFailedError,
  MirrorError, BadSignatureError, UntrustedKeyError, RollbackError, ExpiredError, TooLargeError, MixAndMatchError, InvalidManifestError,
  ReleaseNotFoundError, KeyError, DagTooLargeError, GovernanceError, CollectionNotFoundError, InvalidAnnouncementError, UnauthorizedError,
  AnnouncementExpiredError, ReplayError, QuotaError, ResourceNotFoundError, InvalidUrlError, ForbiddenDestinationError, ApiAuthError,
  UrlUnavailableError, OriginStatusError, BadClaimError, AnalyticsPolicyError, PrivacyBudgetError, InvalidReportError, SecureAggregationError,
  PolicyFileError, BufferBudgetError, ConfigError, ArchiveError, ArchiveRebuildError, IdentityTooLargeError, BadDeltaError
} from './errors.js'
