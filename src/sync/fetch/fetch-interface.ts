/** The fetcher's contract: block sources, options, progress events and results (fetcher.ts does the work). */
import type { CID } from 'multiformats/cid'
import type { Block } from '../../store/interface.js'

/** A source's answer to a request: what it sent, what it says it lacks, and what crossed the network. */
export interface BlockAnswer {
  blocks: Block[]
  missing: CID[]
  /**
   * Bytes received on the wire for this answer (compressed payload, framing, HTTP body), counted by the source
   * as they arrive. @default the sum of the blocks' lengths
   */
  wireBytes?: number
}

/** How a block request is made (see BlockSource.request). */
export interface RequestOptions {
  signal?: AbortSignal
  /**
   * Blocks as they arrive. Their bytes are valid until the returned promise settles: a source may read its next
   * message into the same buffer after that (BlockChannel does), so whatever is kept longer is copied.
   */
  onBlocks?: (blocks: Block[], wireBytes: number) => Promise<void>
  onCancel?: (cancel: (cids: CID[]) => void) => void
  /**
   * The source is delivering, though not this request's blocks yet (a source that answers its requests one after
   * another on one stream): the request is waiting its turn, not stalled.
   */
  onProgress?: () => void
}

/** Where blocks can come from: a peer, another store, an HTTP mirror. */
export interface BlockSource {
  readonly id: string
  /** What kind of source this is, for reports. @default 'peer' */
  readonly kind?: 'peer' | 'mirror' | 'store'
  /**
   * Ask for blocks; the answer may be partial. Bytes are untrusted: the fetcher verifies them. A source that
   * answers in several messages hands each message's blocks to `onBlocks` as it arrives (and awaits it), so they
   * are stored, and can be passed on to others, before the whole request is answered; those blocks and their wire
   * bytes are then left out of the answer. A source that can take back part of a request hands `onCancel` a
   * function that does (the fetcher calls it for blocks a racing request delivered first); cancelled blocks are
   * neither in the answer nor missing from it.
   */
  request: (cids: CID[], options: RequestOptions) => Promise<BlockAnswer>
  /** Called when the source sent a block that does not match its CID. */
  misbehaved?: (reason: string) => void
  /** Called with the bytes of blocks from this source that verified (the node's ledger counts them). */
  verified?: (bytes: number) => void
  /** Which of `cids` the source says it holds (a cheap question: no block bytes move). */
  haves?: (cids: CID[], options: { signal?: AbortSignal }) => Promise<CID[]>
}

/**
 * What a fetch learns from, and tells, the peers downloading the same DAG (the holdings protocol,
 * src/sync/exchange/holdings-service.ts): a file node's leaves, in order, are the leaf order its holdings speak of
 * (the file node's CID is their root). Created per fetch; the fetcher only consults it, so a fetch without it (or
 * whose peers sent nothing) behaves as before.
 */
export interface Trading {
  /** The walk reached file node `node`, which lists `leaves` in order; `sources` are the fetch's source ids now. */
  file: (node: CID, leaves: CID[], sources: string[]) => void
  /** A source joined the fetch mid-way: it is told what this node holds. */
  joined: (source: string) => void
  /** Block `key` verified and stored: announced to the other downloaders in the next batch. */
  verified: (key: string) => void
  /** Whether `source` said it holds block `key`; undefined when it said nothing of its file. */
  holds: (source: string, key: string) => boolean | undefined
  /** `source` denied block `key` (did not send it when asked): a claim it made of it counts against it. */
  denied: (source: string, key: string) => void
  /** Grows whenever what peers said changes (the fetcher sorts again when it does). */
  readonly version: number
  /** The fetch ended: what is batched is sent, and nothing more is told. */
  close: () => void
}

/**
 * Blocks of an update asked as deltas against the blocks of the old version held here (src/sync/delta's DeltaFetch):
 * the fetcher wraps its sources with `wrap` and tells `expanded` each node of the new DAG it walks (held or fetched).
 */
export interface BaseHint {
  wrap: (source: BlockSource) => BlockSource
  expanded: (cid: CID, bytes: Uint8Array) => void
}

export type FetchProgressEvent =
  | { type: 'fetch:blocks', blocks: number, bytes: number, source: string }
  | { type: 'fetch:bad-block', cid: string, source: string }
  | { type: 'fetch:source-failed', source: string, error: string }
  | { type: 'fetch:endgame', source: string, blocks: number }
  /**
   * A request to `source` has delivered nothing for STALL_FACTOR (stalls.ts) times as long as a request to it
   * usually takes (it stopped answering, or slowed down that much): the `blocks` of its requests may be asked of
   * other sources, and it gets no new work until it answers.
   */
  | { type: 'fetch:stalled', source: string, blocks: number }

export interface FetchOptions {
  signal?: AbortSignal
  onProgress?: (event: FetchProgressEvent) => void
  /** Pin the root once complete. @default true */
  pin?: boolean
  /** Whose pin it is (see Blockstore.pin). @default USER_PIN */
  pinOwner?: string
  /** CIDs asked for in one request: small blocks travel many to a message. @default 128 */
  batchSize?: number
  /**
   * Bytes asked for in one request at most, by the sizes the file nodes give their leaves: a request of large
   * blocks is cut short, so work stays spread over the sources as they prove fast or slow. @default 1 MiB
   */
  requestBytes?: number
  /**
   * Requests in flight to one source at most; each goes to the source expected to answer first. @default sized
   * per source by its measured throughput: enough to keep it busy for 0.5 s, 2 to 16 (4 until it has delivered)
   */
  perSource?: number
  /**
   * Sources joining and leaving during the fetch: called once with `add` and `remove`; returns a function that
   * stops watching. A node wires this to its peers connecting and disconnecting.
   */
  watch?: (add: (source: BlockSource) => void, remove: (id: string) => void) => () => void
  /**
   * Most bytes the whole DAG may hold: every block the walk reaches, held or fetched, counted once. The fetch
   * stops with ERR_DAG_TOO_LARGE as soon as the walk passes it (a DAG larger than its declared size). @default unlimited
   */
  maxBytes?: number
  /** Most blocks the whole DAG may hold, counted as for `maxBytes` (ERR_DAG_TOO_LARGE past it). @default unlimited */
  maxBlocks?: number
  /**
   * Once blocks have begun to arrive, when no source has what is left (or no source is connected), wait for one
   * instead of failing: ask the sources again every PATIENCE_REASK_MS, and fail only once no block has arrived
   * for this long (ms). Auto-sync uses it: just after an announcement, the neighbours it fetches from are still
   * downloading the rest themselves. Content nobody has (not even its root) still fails at once. @default 0
   */
  patienceMs?: number
  /**
   * Trade holdings with the other downloaders of this DAG (see Trading): sources that said they hold a block go
   * first, sources that said they lack it last, and blocks fewer sources hold go first (after a few random ones).
   * @default none: nothing is told or learned
   */
  trading?: Trading
  /** Ask for blocks as deltas against the old version held here (see BaseHint). @default none: blocks only */
  base?: BaseHint
}

export interface FetchResult {
  cid: CID
  /** Blocks received and stored by this fetch (not those already held). */
  fetchedBlocks: number
  fetchedBytes: number
  /** Verified bytes received from each source. */
  sources: Record<string, number>
  /** Bytes received on the wire from each source, as the sources counted them (compressed, with framing). */
  wire: Record<string, number>
  /** Sum of `wire`: what this fetch cost the network. */
  wireBytes: number
  /** Requests sent to race another: a stalled one, or a late one of a source that cannot take blocks back. */
  duplicates: number
  /** Requests that took over the far half of a late request's blocks in the endgame (taken back from its source). */
  stolen: number
  /** Time spent hashing received blocks to verify them (the price of trusting no one). */
  verifySeconds: number
  seconds: number
  /** Peers found through the community's DHT and dialled for this fetch (no connected peer held the root). */
  routed?: string[]
}

/** The peers a download draws on: a node ranks its connected peers and tells when one joins or leaves. */
export interface PeerSources {
  /** A block source for each connected peer, best first. */
  sources: () => Promise<BlockSource[]>
  /** Peers joining and leaving during a fetch (see FetchOptions.watch). */
  watch?: FetchOptions['watch']
}
