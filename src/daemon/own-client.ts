/** The node client over a node of the command's own: started on the first operation that needs it, stopped on close. */
import { setTimeout as sleep } from 'node:timers/promises'
import type { CID } from 'multiformats/cid'
import { Analytics, describeRelease, type ReleaseSummary } from '../analytics/analytics.js'
import { readLedger } from '../policy/fairness/ledger.js'
import { createNode, type CmeshNode } from '../node/index.js'
import { resolveRepo } from '../store/index.js'
import { describeResponse } from '../sync/cache/url-cache.js'
import { runCollectionOp, type CollectionOp } from '../sync/collections/collection-ops.js'
import type { UpdateResult } from '../sync/releases/releases.js'
import type { FetchReport, NodeClient, NodeClientOptions, PeerReport, ProgressOptions, StatsReport, UpdateRequest, UrlReport } from './contract.js'
import { fetchWithProgress, updateWithProgress } from './operations.js'

export class OwnNodeClient implements NodeClient {
  readonly via = 'own'
  private node: Promise<CmeshNode> | undefined

  constructor (private readonly options: NodeClientOptions = {}) {}

  /** The node, started on first use with the client's node options. */
  private async started (): Promise<CmeshNode> {
    this.node ??= createNode({ ...this.options.node, repo: this.options.repo })
    return await this.node
  }

  async fetch (cid: CID, options: ProgressOptions = {}): Promise<FetchReport> {
    return await fetchWithProgress(await this.started(), cid, options.onProgress)
  }

  async update (name: string, options: UpdateRequest = {}): Promise<UpdateResult> {
    return await updateWithProgress(await this.started(), name, { bundle: options.bundle, withDeps: options.withDeps }, options.onProgress)
  }

  /** Listen for peers for `waitMs` (mDNS, bootstrap, peer exchange), then list them. */
  async peers (options: { waitMs?: number } = {}): Promise<PeerReport[]> {
    const node = await this.started()
    if ((options.waitMs ?? 0) > 0) await sleep(options.waitMs)
    return (await node.peers()).map(p => ({ ...p, discoveredAfterMs: p.firstConnected === undefined ? undefined : p.firstConnected - node.started }))
  }

  /** The repository's ledger file: what the last node on it counted (no node is started for it). */
  async stats (): Promise<StatsReport> {
    const rows = readLedger(resolveRepo(this.options.repo)).map(r => ({ peer: r.peer, sent: r.sent, received: r.received, ratio: r.ratio }))
    return { live: false, rows }
  }

  /** The body is read from this node: read it before close. */
  async fetchUrl (url: string): Promise<UrlReport> {
    const r = await (await this.started()).fetchUrl(url)
    return { meta: describeResponse(r), body: r.body() }
  }

  /** Released into the repository (no node is started): peers get it by anti-entropy when a daemon next runs. */
  async releaseReport (): Promise<ReleaseSummary> {
    const analytics = new Analytics(resolveRepo(this.options.repo), { enabled: true })
    try {
      return describeRelease(await analytics.release())
    } finally {
      await analytics.stop()
    }
  }

  /** A share is signed and stored in the repository; neighbours get it by anti-entropy when a daemon next runs. */
  async collection (op: CollectionOp): Promise<unknown> {
    return await runCollectionOp((await this.started()).collections, op)
  }

  async close (): Promise<void> {
    const node = await this.node?.catch(() => undefined) // a node that failed to start has nothing to stop
    this.node = undefined
    await node?.stop()
  }
}
