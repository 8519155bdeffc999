import type { CID } from 'multiformats/cid'
import type { Metrics } from '../analytics/counters.js'
import { recordFetch } from '../analytics/node-hooks.js'
import type { Blockstore } from '../store/interface.js'
import type { Downloads } from '../sync/collections/collection-sync.js'
import { fetchDag, type FetchOptions, type FetchResult, type PeerSources } from '../sync/fetch/fetcher.js'

export interface NodeDownloadsComponents {
  store: Blockstore
  peers: PeerSources
  metrics: Metrics
}

/**
 * Downloads of whole DAGs from the connected peers (only the blocks this node lacks, every block verified): what
 * `node.fetch()` and collections' auto-sync run, counted in the node's metrics.
 */
export class NodeDownloads implements Downloads {
  constructor (private readonly components: NodeDownloadsComponents) {}

  async fetch (cid: CID, options?: FetchOptions): Promise<FetchResult> {
    const { store, peers, metrics } = this.components
    const sources = await peers.sources()
    const result = await fetchDag(store, cid, sources, { ...options, watch: options?.watch ?? peers.watch })
      .catch((err: unknown) => { recordFetch(metrics, cid.toString(), undefined); throw err })
    recordFetch(metrics, cid.toString(), result.sources)
    return result
  }
}
