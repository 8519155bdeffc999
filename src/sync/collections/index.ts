/**
 * Community collections: joining by governance document, signed shares and retractions over gossip, their
 * synchronisation within a budget, the heads protocol for catch-up, and the per-collection files of a repository.
 */
export {
  Collections,
  slug,
  type CollectionsOptions,
  type CollectionsComponents,
  type JoinOptions,
  type ShareOptions,
  type RetractOptions,
  type BrowseQuery,
  type BrowseEntry,
  type CollectionInfo,
  type PublishedAnnouncement,
  type CollectionEvent,
  type CollectionStats
} from './collections.js'
export { CollectionHeads, COLLECTION_HEADS_PROTOCOL } from './collection-heads.js'
export { CollectionSync, type SyncStatus, type SyncEvent, type Downloads } from './collection-sync.js'
export { runCollectionOp, type CollectionOp } from './collection-ops.js'
export { CollectionFiles, type StoredCollection } from './collection-file.js'
