import type { CID } from 'multiformats/cid'
import type { Metrics } from '../analytics/counters.js'
import { recordFetch } from '../analytics/node-hooks.js'
import { FetchFailedError } from '../errors.js'
import type { Blockstore } from '../store/interface.js'
import type { DeltaService } from '../sync/delta/index.js'
import type { Downloads } from '../sync/collections/collection-sync.js'
import type { HoldingsService } from '../sync/exchange/holdings-service.js'
import { fetchDag, type FetchOptions, type FetchResult, type PeerSources } from '../sync/fetch/fetcher.js'
import type { ContentRouting } from '../sync/routing/index.js'

export interface NodeDownloadsComponents {
  store: Blockstore
  peers: PeerSources
  metrics: Metrics
  /** The community's DHT: asked for providers when no connected peer holds the root. */
  routing?: Pick<ContentRouting, 'connectProviders' | 'provide'>
  /** Holdings traded with the other downloaders of a file (createNode's `trading`). */
  holdings?: Pick<HoldingsService, 'trading'>
  /** Block deltas against an old version held here (DownloadOptions.from). */
  deltas?: Pick<DeltaService, 'base'>
}

export interface DownloadOptions extends FetchOptions {
  /**
   * The root of an older version of the same content, held here: blocks are asked as deltas against its blocks at
   * the same places (src/sync/delta), and come as blocks where no delta is offered. @default none: blocks only
   */
  from?: CID
}

/**
 * Downloads of whole DAGs from the connected peers (only the blocks this node lacks, every block verified): what
 * `node.fetch()` and collections' auto-sync run, counted in the node's metrics.
 */
export class NodeDownloads implements Downloads {
  constructor (private readonly components: NodeDownloadsComponents) {}

  async fetch (cid: CID, options?: DownloadOptions): Promise<FetchResult> {
    const { store, peers, metrics, routing, holdings, deltas } = this.components
    const from = options?.from
    const attempt = async (): Promise<FetchResult> => await fetchDag(store, cid, await peers.sources(), {
      ...options,
      base: options?.base ?? (from === undefined || deltas === undefined || !await store.has(from) ? undefined : deltas.base(store, cid, from)),
      watch: options?.watch ?? peers.watch,
      trading: options?.trading ?? holdings?.trading()
    })
    let result: FetchResult
    try {
      try {
        result = await attempt()
      } catch (err) {
        // nobody connected has it: the DHT may know who does (the peers found are dialled, then asked as any other)
        if (!(err instanceof FetchFailedError) || routing === undefined) throw err
        const found = await routing.connectProviders(cid, options?.signal)
        if (found.length === 0) throw err
        result = { ...await attempt(), routed: found.map(p => p.toString()) }
      }
    } catch (err) {
      recordFetch(metrics, cid.toString(), undefined)
      throw err
    }
    recordFetch(metrics, cid.toString(), result.sources)
    if (options?.pin !== false) void routing?.provide(cid)
    return result
  }
}
