/**
 * The node client's contract: what a CLI command asks of "the node", whether that is the daemon running on the
 * repository (through its control API) or a node of the command's own (started on demand, stopped on close).
 * `openNodeClient` (client.ts) picks one; the commands call only this interface.
 */
import type { CID } from 'multiformats/cid'
import type { ReleaseSummary } from '../analytics/analytics.js'
import type { NodeOptions, PeerInfo } from '../node/index.js'
import type { CollectionOp } from '../sync/collections/collection-ops.js'
import type { PeerFairness } from '../sync/exchange/block-service.js'
import type { UpdateResult } from '../sync/releases/releases.js'

/** Progress of a long operation, in bytes: done of a total (absent while the total is not known). */
export interface Progress {
  done: number
  total?: number
}

export interface ProgressOptions {
  /** Called as the operation goes; the last call of a successful operation has done = total. */
  onProgress?: (progress: Progress) => void
}

/** What `cmesh fetch` reports (also the control API's answer to POST /api/v0/fetch). */
export interface FetchReport {
  cid: string
  /** Verified bytes received, all sources together. */
  bytes: number
  seconds: number
  /** Verified bytes received from each source. */
  sources: Record<string, number>
  /** Peers found through the community's DHT for this fetch (no connected peer held the root). */
  routed?: string[]
}

export interface UpdateRequest extends ProgressOptions {
  /** A release bundle from elsewhere (a file, a URL) instead of asking peers. */
  bundle?: Uint8Array
  /** Also install the dependency closure. */
  withDeps?: boolean
}

/** A peer as `cmesh peers` lists it. */
export interface PeerReport extends PeerInfo {
  /** How long after the node started it connected (a node of the command's own only). */
  discoveredAfterMs?: number
}

/** A row of `cmesh stats`: the daemon's live state, or the ledger file alone (then no choke state, weight, share). */
export type StatsRow = Partial<PeerFairness> & Pick<PeerFairness, 'peer' | 'sent' | 'received' | 'ratio'>

export interface StatsReport {
  /** The rows come from a running node (a daemon), not from the ledger file alone. */
  live: boolean
  rows: StatsRow[]
}

/** A URL through the community cache: its metadata (`describeResponse`) and its body, to be read once. */
export interface UrlReport {
  meta: Record<string, unknown>
  body: AsyncIterable<Uint8Array>
}

export interface NodeClient {
  /** Which node answers: the daemon running on the repository, or one of the command's own. */
  readonly via: 'daemon' | 'own'
  /** Fetch a DAG from peers (only the blocks the repository lacks), verifying every block. */
  fetch: (cid: CID, options?: ProgressOptions) => Promise<FetchReport>
  /** Install the newest trusted release of `name`, fetching only what changed. */
  update: (name: string, options?: UpdateRequest) => Promise<UpdateResult>
  /** Connected peers, ranked; a node of the command's own first listens for them for `waitMs`. */
  peers: (options?: { waitMs?: number }) => Promise<PeerReport[]>
  /** The per-peer ledger: live from a daemon; without one, the repository's ledger file (no node is started). */
  stats: () => Promise<StatsReport>
  /** Get a URL through the community cache. */
  fetchUrl: (url: string) => Promise<UrlReport>
  /** Release this node's aggregate of the current period now (the period is then closed for it). */
  releaseReport: () => Promise<ReleaseSummary>
  /** Run a collection operation (join, list, leave, share, retract, browse). */
  collection: (op: CollectionOp) => Promise<unknown>
  /** Stop the node of the command's own, if one was started; nothing for a daemon. */
  close: () => Promise<void>
}

export interface NodeClientOptions {
  /** Repository. @default $CMESH_REPO, else ~/.cmesh */
  repo?: string
  /** How a node of the command's own is started, when no daemon runs (ignored otherwise). */
  node?: Omit<NodeOptions, 'repo'>
}
