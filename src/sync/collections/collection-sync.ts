import type { CID } from 'multiformats/cid'
import { parseCid } from '../../dag/cid.js'
import type { Announcement } from '../../policy/collections/announcement.js'
import { expire, liveShares } from '../../policy/collections/collection-rules.js'
import type { StoredCollection } from './collection-file.js'
import type { Blockstore } from '../../store/interface.js'
import { COLLECTION_PIN } from './constants.js'

/**
 * Longest wait before a failed download is tried again (sooner when a peer connects). A failure is cheap (each
 * peer says "don't have" about the root), and a resource spreads through a neighbourhood in well under a minute.
 */
const MAX_RETRY_MS = 30_000
/**
 * An auto-sync download that has begun waits this long without a block arriving before it fails: right after an
 * announcement, the neighbours this node fetches from are still downloading the rest themselves.
 */
const SYNC_PATIENCE_MS = 60_000

/** What one resource of a collection is, as auto-sync sees it. */
export type SyncStatus = 'synced' | 'pending' | 'over-budget' | 'failed'

export interface SyncEvent {
  type: 'synced' | 'unpinned' | 'failed'
  collection: string
  root: string
  id?: string
  error?: Error
}

/** What auto-sync downloads through: a node swarm-downloads a DAG from its peers and pins it. */
export interface Downloads {
  fetch: (root: CID, options: { signal: AbortSignal, patienceMs: number, pinOwner: string }) => Promise<unknown>
}

export interface CollectionSyncComponents {
  store: Pick<Blockstore, 'isPinned' | 'isComplete' | 'pin' | 'unpin'>
  /** Fetch and pin a DAG (a swarm download from the connected peers). */
  downloads: Downloads
  collections: () => StoredCollection[]
  save: (c: StoredCollection) => void
  onEvent: (e: SyncEvent) => void
}

/**
 * Auto-sync: fetch the resources in force in every joined collection, one at a time in priority order (the
 * governance's priority of each purpose, then oldest first), each within its collection's storage budget; unpin
 * what was retracted or expired. A pass runs whenever something changes; one asked for while another runs is
 * run right after it.
 */
export class CollectionSync {
  private running: Promise<void> | undefined
  private again = false
  private readonly controller = new AbortController()
  /** Resources that failed, so a pass does not hammer them: root -> when to try again, and the next delay. */
  private readonly backoff = new Map<string, { until: number, delay: number }>()
  private retryTimer: ReturnType<typeof setTimeout> | undefined

  constructor (private readonly components: CollectionSyncComponents, private readonly fetchTimeoutMs: number, private readonly retryMs: number) {}

  /** Ask for a pass; resolves when a pass that started after the call has ended. */
  async kick (): Promise<void> {
    if (this.running !== undefined) {
      this.again = true
      await this.running
      if (this.running !== undefined) await this.running
      return
    }
    this.running = (async () => {
      try {
        do {
          this.again = false
          await this.pass()
        } while (this.again && !this.controller.signal.aborted)
      } finally {
        this.running = undefined
      }
    })()
    await this.running
  }

  /** The status of a share of collection `c`. */
  status (c: StoredCollection, a: Announcement): SyncStatus {
    const root = a.resource!.root
    if (this.components.store.isComplete(root) && (c.pinned.has(root.toString()) || this.components.store.isPinned(root))) return 'synced'
    if (this.backoff.has(root.toString())) return 'failed'
    return a.resource!.size + this.used(c, a.resource!.root.toString()) > c.budget ? 'over-budget' : 'pending'
  }

  /** Bytes of the collection's resources held here, except `except`. */
  private used (c: StoredCollection, except?: string): number {
    let used = 0
    for (const a of liveShares(c)) {
      const root = a.resource!.root.toString()
      if (root !== except && c.pinned.has(root)) used += a.resource!.size
    }
    return used
  }

  async stop (): Promise<void> {
    clearTimeout(this.retryTimer)
    this.controller.abort()
    await this.running?.catch(() => {})
  }

  /** After a pass: wake up when the first failed download is due again, not only at the next sweep. */
  private scheduleRetry (): void {
    clearTimeout(this.retryTimer)
    if (this.backoff.size === 0 || this.controller.signal.aborted) return
    const due = Math.min(...[...this.backoff.values()].map(b => b.until))
    this.retryTimer = setTimeout(() => { void this.kick().catch(() => {}) }, Math.max(0, due - Date.now()))
    this.retryTimer.unref()
  }

  private async pass (): Promise<void> {
    try {
      await this.syncAll()
    } finally {
      this.scheduleRetry()
    }
  }

  private async syncAll (): Promise<void> {
    const { store } = this.components
    const all = this.components.collections()
    const wanted = new Set<string>()
    const queue: Array<{ c: StoredCollection, a: Announcement }> = []
    for (const c of all) {
      if (expire(c).length > 0) this.components.save(c)
      for (const a of liveShares(c)) {
        wanted.add(a.resource!.root.toString())
        queue.push({ c, a })
      }
    }
    // retracted and expired: unpinned unless another collection still wants the root
    for (const c of all) {
      let changed = false
      for (const root of [...c.pinned]) {
        if (wanted.has(root)) continue
        c.pinned.delete(root)
        changed = true
        if (!all.some(o => o.pinned.has(root))) {
          await store.unpin(parseCid(root), COLLECTION_PIN)
          this.components.onEvent({ type: 'unpinned', collection: c.governance.name, root })
        }
      }
      if (changed) this.components.save(c)
    }
    queue.sort((x, y) => (x.c.governance.priorities[x.a.resource!.purpose] - y.c.governance.priorities[y.a.resource!.purpose]) || x.a.created - y.a.created)
    for (const { c, a } of queue) {
      if (this.controller.signal.aborted) return
      const root = a.resource!.root
      const key = root.toString()
      if (c.pinned.has(key) && store.isComplete(root)) continue
      if (a.resource!.size + this.used(c) > c.budget) continue
      if (store.isComplete(root) && !c.pinned.has(key)) {
        // held already (by another collection, the user or the cache): pinned for the collections too, so that
        // the user's unpin or the cache's eviction leaves it, and the collections' unpin leaves theirs
        await store.pin(root, COLLECTION_PIN)
        c.pinned.add(key)
        this.components.save(c)
        this.components.onEvent({ type: 'synced', collection: c.governance.name, root: key, id: a.id })
        continue
      }
      if ((this.backoff.get(key)?.until ?? 0) > Date.now()) continue
      try {
        await this.components.downloads.fetch(root, {
          signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.fetchTimeoutMs)]),
          patienceMs: SYNC_PATIENCE_MS,
          pinOwner: COLLECTION_PIN
        })
        this.backoff.delete(key)
        c.pinned.add(key)
        this.components.save(c)
        this.components.onEvent({ type: 'synced', collection: c.governance.name, root: key, id: a.id })
      } catch (err) {
        if (this.controller.signal.aborted) return
        // doubling delays: the first failure is usually a neighbour still fetching it; later ones, nobody has it
        const delay = Math.min(this.backoff.get(key)?.delay ?? this.retryMs, MAX_RETRY_MS)
        this.backoff.set(key, { until: Date.now() + delay, delay: delay * 2 })
        this.components.onEvent({ type: 'failed', collection: c.governance.name, root: key, id: a.id, error: err as Error })
      }
    }
  }

  /** Forget failures: a new peer may have what failed (called when a peer connects). */
  retryFailed (): void {
    this.backoff.clear()
  }
}
