/** The node client over the control API of the daemon running on the repository. */
import type { CID } from 'multiformats/cid'
import type { ReleaseSummary } from '../analytics/analytics.js'
import type { PeerInfo } from '../node/index.js'
import type { CollectionOp } from '../sync/collections/collection-ops.js'
import type { PeerFairness } from '../sync/exchange/block-service.js'
import type { UpdateResult } from '../sync/releases/releases.js'
import type { FetchReport, NodeClient, PeerReport, ProgressOptions, StatsReport, UpdateRequest, UrlReport } from './contract.js'
import { apiError, apiRequest, callApi, callApiStream, type DaemonEndpoint } from './endpoint.js'

export class DaemonClient implements NodeClient {
  readonly via = 'daemon'

  constructor (readonly endpoint: DaemonEndpoint) {}

  /** POST /api/v0/fetch, its progress streamed when asked for. */
  async fetch (cid: CID, options: ProgressOptions = {}): Promise<FetchReport> {
    const path = `/api/v0/fetch?cid=${cid.toString()}`
    const onProgress = options.onProgress
    if (onProgress === undefined) return await callApi(this.endpoint, 'POST', path) as FetchReport
    return await callApiStream(this.endpoint, path, undefined, onProgress) as FetchReport
  }

  async update (name: string, options: UpdateRequest = {}): Promise<UpdateResult> {
    const path = `/api/v0/update?name=${encodeURIComponent(name)}${options.withDeps === true ? '&withDeps=1' : ''}`
    const onProgress = options.onProgress
    if (onProgress === undefined) return await callApi(this.endpoint, 'POST', path, options.bundle) as UpdateResult
    return await callApiStream(this.endpoint, path, options.bundle, onProgress) as UpdateResult
  }

  /** The daemon's peers now: it has been listening for them all along, so `waitMs` is not waited. */
  async peers (): Promise<PeerReport[]> {
    return await callApi(this.endpoint, 'GET', '/api/v0/peers') as PeerInfo[]
  }

  async stats (): Promise<StatsReport> {
    return { live: true, rows: await callApi(this.endpoint, 'GET', '/api/v0/stats') as PeerFairness[] }
  }

  /** POST /api/v0/url: the body streams as the daemon sends it; the metadata comes in the X-Cmesh-Result header. */
  async fetchUrl (url: string): Promise<UrlReport> {
    const res = await apiRequest(this.endpoint, 'POST', `/api/v0/url?url=${encodeURIComponent(url)}`)
    if (!res.ok) throw await apiError(res)
    const meta = JSON.parse(decodeURIComponent(res.headers.get('x-cmesh-result') ?? '{}')) as Record<string, unknown>
    return { meta, body: res.body as unknown as AsyncIterable<Uint8Array> }
  }

  /** The daemon releases and gossips it to its peers at once. */
  async releaseReport (): Promise<ReleaseSummary> {
    return await callApi(this.endpoint, 'POST', '/api/v0/report/release') as ReleaseSummary
  }

  /** The daemon runs it and publishes at once. */
  async collection (op: CollectionOp): Promise<unknown> {
    return await callApi(this.endpoint, 'POST', '/api/v0/collections', Buffer.from(JSON.stringify(op)))
  }

  async close (): Promise<void> {}
}
