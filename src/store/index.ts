import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidOptionError } from '../errors.js'
import { DEFAULT_CAPACITY, DEFAULT_REPO_DIRNAME, REPO_ENV } from './constants.js'
import { LmdbBlockstore } from './lmdb-store.js'
import type { Blockstore } from './interface.js'

export { USER_PIN } from './interface.js'
export type { Block, Blockstore, GcResult, PinRecord, PutResult, RootInfo, StoreSession, StoreStat } from './interface.js'
export { ReleaseIndex, RELEASES_FILENAME, BUNDLES_DIRNAME, type InstalledRelease } from './release-index.js'

export interface StoreOptions {
  /** Repository directory. @default $CMESH_REPO, else ~/.cmesh */
  repo?: string
  /** Bytes of block data the store may hold; a put beyond it runs GC, then fails with ERR_STORE_FULL. @default unlimited */
  capacity?: number
}

/** The repository directory: the option, else CMESH_REPO, else ~/.cmesh. */
export function resolveRepo (repo?: string): string {
  const env = process.env[REPO_ENV]
  if (repo !== undefined && repo !== '') return resolve(repo)
  if (env !== undefined && env !== '') return resolve(env)
  return join(homedir(), DEFAULT_REPO_DIRNAME)
}

/** Open (creating if needed) the LMDB block store of a repository. */
export function createStore (init: StoreOptions = {}): Blockstore {
  const capacity = init.capacity ?? DEFAULT_CAPACITY
  if (!(capacity > 0)) throw new InvalidOptionError(`capacity must be a positive number of bytes, got ${capacity}`)
  return new LmdbBlockstore(resolveRepo(init.repo), capacity)
}
