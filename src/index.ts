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
 */
export * from './dag/index.js'
export { createStore, resolveRepo, ReleaseIndex, type InstalledRelease, type StoreOptions, type Blockstore, type Block, type PutResult, type RootInfo, type StoreStat, type GcResult, type StoreSession } from './store/index.js'
export * from './errors.js'
export { CID } from 'multiformats/cid'
export { createNode, CmeshNode, type NodeOptions, type PeerInfo } from './node.js'
export * from './sync/index.js'
export * from './policy/index.js'
export {
  Analytics, type AnalyticsOptions, type Metrics, COUNTERS, GAUGES, QUANTITIES, ANALYTICS_TOPIC, combineReports, renderReport,
  type CommunityReport, type ReportFormat, type AnalyticsReport, decodeReport, encodeReport, readAnalyticsPolicy, type AnalyticsPolicy,
  startMonitor
} from './analytics/index.js'
