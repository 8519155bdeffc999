import type { CID } from 'multiformats/cid'

export interface Block {
  cid: CID
  bytes: Uint8Array
}

export interface PutResult {
  /** Blocks the store did not hold before. */
  newBlocks: number
  /** Bytes of those blocks. */
  newBytes: number
}

export interface RootInfo {
  cid: CID
  /** Content bytes under the root. */
  size: number
  /** Unique blocks in the DAG. */
  blocks: number
  /** When the root was recorded complete (ms since the epoch). */
  created: number
  pinned: boolean
}

export interface StoreStat {
  repo: string
  blocks: number
  /** Bytes of block data (LMDB's own overhead not counted). */
  bytes: number
  capacity: number
  pinnedRoots: number
  completeRoots: number
}

export interface GcResult {
  removedBlocks: number
  removedBytes: number
}

/** Blocks written through a session are safe from capacity GC until `end()`: an import in progress is not collected. */
export interface StoreSession {
  end(): void
}

/**
 * The block store contract. Blocks are keyed by CID; the store does not hash on put (callers verify untrusted
 * bytes first), and readers that need integrity verify on read (see dag/verify).
 */
export interface Blockstore {
  readonly repo: string
  readonly capacity: number
  get(cid: CID): Promise<Uint8Array>
  getSync(cid: CID): Uint8Array
  has(cid: CID): Promise<boolean>
  put(cid: CID, bytes: Uint8Array): Promise<PutResult>
  /** Atomic: all blocks are committed, or none. Fails with ERR_STORE_FULL when GC cannot make room. */
  putMany(blocks: Block[], session?: StoreSession): Promise<PutResult>
  /** Delete one unreferenced block; refuses a block of a pinned root (ERR_BLOCK_PINNED). */
  delete(cid: CID): Promise<boolean>
  /** Pin a complete DAG: its blocks survive GC while pinned. Idempotent. */
  pin(cid: CID): Promise<void>
  unpin(cid: CID): Promise<boolean>
  isPinned(cid: CID): boolean
  pins(): Iterable<CID>
  /** Record that every block of the DAG under `cid` is committed (checked: ERR_BLOCK_NOT_FOUND otherwise). */
  markComplete(cid: CID): Promise<void>
  isComplete(cid: CID): boolean
  roots(): Iterable<RootInfo>
  missing(root: CID): CID[]
  entries(): Iterable<Block>
  openSession(): StoreSession
  gc(): Promise<GcResult>
  stat(): StoreStat
  close(): Promise<void>
}
