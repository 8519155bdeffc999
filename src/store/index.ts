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
}

export { resolveRepo }

/** Open (creating if needed) the LMDB block store of a repository. */
export function createStore (init: StoreOptions = {}): Blockstore {
  const repo = resolveRepo(init.repo)
  const capacity = init.capacity ?? readRepoConfig(repo).capacity ?? DEFAULT_CAPACITY
  if (!(capacity > 0)) throw new InvalidOptionError(`capacity must be a positive number of bytes, got ${capacity}`)
  return new LmdbBlockstore(repo, capacity)
}
