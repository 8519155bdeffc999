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

/** The owner of pins made by a person (`cmesh add`, `cmesh pin`, `node.add`, a fetch) and of pins from before owners. */
export const USER_PIN = 'user'

/** What the pins index holds for a pinned root. */
export interface PinRecord {
  /** When it was first pinned (ms since the epoch). */
  at: number
  owners: string[]
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
  /** A held block's size from the index alone (no block bytes read); undefined when it is not held. */
  sizeOf(cid: CID): number | undefined
  /**
   * Copy a held block's bytes into `out` at `at`, straight from the map (no intermediate buffer); its size. Throws
   * BlockNotFoundError when it is not held, and RangeError when it does not fit.
   */
  copyInto(cid: CID, out: Uint8Array, at: number): number
  has(cid: CID): Promise<boolean>
  put(cid: CID, bytes: Uint8Array): Promise<PutResult>
  /** Atomic: all blocks are committed, or none. Fails with ERR_STORE_FULL when GC cannot make room. */
  putMany(blocks: Block[], session?: StoreSession): Promise<PutResult>
  /** Delete one unreferenced block; refuses a block of a pinned root (ERR_BLOCK_PINNED). */
  delete(cid: CID): Promise<boolean>
  /**
   * Pin a complete DAG for `owner` (default USER_PIN): its blocks survive GC while any owner pins it. Owners
   * are independent (the user, the URL cache, a collection, a release): one's unpin never drops another's pin.
   * Idempotent for one owner.
   */
  pin(cid: CID, owner?: string): Promise<void>
  /** Drop `owner`'s pin (default USER_PIN); true if it had one. The root stays pinned while others pin it. */
  unpin(cid: CID, owner?: string): Promise<boolean>
  /** Pinned by anyone, or, given `owner`, by that owner. */
  isPinned(cid: CID, owner?: string): boolean
  /** Who pins the root (empty: not pinned). */
  pinOwners(cid: CID): string[]
  /**
   * A pin written before pins had owners (read as USER_PIN) becomes `owner`'s: the subsystem that knows it made
   * the pin claims it on start, so its own unpin works again and the user's unpin no longer drops it. False for
   * any other pin, which is left as it is.
   */
  adoptLegacyPin(cid: CID, owner: string): Promise<boolean>
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
