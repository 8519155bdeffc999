import { InvalidOptionError } from '../errors.js'
import { readRepoConfig, resolveRepo } from '../repo/index.js'
import { DEFAULT_CAPACITY } from './constants.js'
import { LmdbBlockstore } from './lmdb-store.js'
import type { Blockstore } from './interface.js'

export { USER_PIN } from './interface.js'
export type { Block, Blockstore, GcResult, PinRecord, PutResult, RootInfo, StoreSession, StoreStat } from './interface.js'
export { ReleaseIndex, type InstalledRelease } from './release-index.js'

export interface StoreOptions {
  /** Repository directory. @default $CMESH_REPO, else ~/.cmesh */
  repo?: string
  /**
   * Bytes of block data the store may hold; a put beyond it runs GC, then fails with ERR_STORE_FULL.
   * @default the repository's config.json `capacity`, else unlimited
   */
  capacity?: number
  /**
   * How the store file is mapped into memory. 'chunks' maps the pages a read needs and unmaps them when the read
   * transaction ends, so resident memory stays small whatever is read or written (an import of 1 GiB peaks near
   * 200 MB). 'whole' maps the file once: a read then costs no map, unmap or page fault for pages read before (a
   * node serving blocks spends about a quarter less CPU per byte), and resident memory grows with the pages read,
   * which are the kernel's page cache, given back under memory pressure. On a 32-bit system 'whole' is what lmdb
   * chooses (chunks, beyond its address space). A node (createNode) uses 'whole'.
   * @default 'chunks'
   */
  mapping?: 'chunks' | 'whole'
}

export { resolveRepo }

/** Open (creating if needed) the LMDB block store of a repository. */
export function createStore (init: StoreOptions = {}): Blockstore {
  const repo = resolveRepo(init.repo)
  const capacity = init.capacity ?? readRepoConfig(repo).capacity ?? DEFAULT_CAPACITY
  if (!(capacity > 0)) throw new InvalidOptionError(`capacity must be a positive number of bytes, got ${capacity}`)
  if (init.mapping !== undefined && init.mapping !== 'chunks' && init.mapping !== 'whole') throw new InvalidOptionError(`mapping must be 'chunks' or 'whole', got ${String(init.mapping)}`)
  return new LmdbBlockstore(repo, capacity, init.mapping ?? 'chunks')
}
