import { CID } from 'multiformats/cid'
import type { GdsfPolicy, EvictionItem } from '../../policy/cache/eviction.js'
import type { Popularity } from '../../policy/cache/popularity.js'
import type { Blockstore } from '../../store/interface.js'
import { CACHE_PIN } from './constants.js'
import type { UrlEntry, UrlIndex } from './url-index.js'

export interface UrlShelfComponents {
  store: Pick<Blockstore, 'pin' | 'unpin' | 'pinOwners'>
  index: UrlIndex
  popularity: Popularity
  policy: GdsfPolicy
  /** Roots a joined collection holds: never evicted. @default none */
  collections?: { holds: (root: string) => boolean }
  /** Whether this node is one of a URL's owners (they are evicted last). */
  owns: (url: string) => boolean
  /** A URL left the cache, with its size. */
  onEvict: (url: string, bytes: number) => void
}

/**
 * What the community cache keeps within its budget: entries in the URL index, each root pinned for the cache
 * (CACHE_PIN), and room made by GDSF eviction, which never takes content a user or a collection also holds.
 */
export class UrlShelf {
  constructor (private readonly components: UrlShelfComponents, readonly cacheBytes: number) {}

  /**
   * Shelve an entry in place of the URL's previous one (releasing that one's pin when its root changed). An entry
   * larger than the whole budget is not kept.
   */
  async put (entry: UrlEntry): Promise<void> {
    const { index, policy, store } = this.components
    const previous = index.get(entry.url)
    if (previous !== undefined) {
      index.delete(entry.url)
      if (previous.cid !== entry.cid) await this.release(previous)
      else entry.cachePinned = previous.cachePinned
    }
    if (entry.size > this.cacheBytes) return
    const over = index.usedBytes + entry.size - this.cacheBytes
    if (over > 0) for (const v of policy.victims(this.items(), over)) await this.evict(v.key)
    // the cache's own pin: a user's or a collection's pin of the same root is theirs, and outlives eviction
    await store.pin(CID.parse(entry.cid), CACHE_PIN)
    entry.cachePinned = true
    index.set(entry)
  }

  /** Remove a URL (dropping the cache's pin of its root when no other URL uses it; others' pins stay). */
  async evict (url: string): Promise<void> {
    const e = this.components.index.delete(url)
    if (e === undefined) return
    await this.release(e)
    this.components.onEvict(url, e.size)
  }

  private items (): EvictionItem[] {
    const { index, popularity, owns } = this.components
    const out: EvictionItem[] = []
    for (const e of index.all()) {
      out.push({ key: e.url, size: e.size, popularity: popularity.count(e.url), owned: owns(e.url), protected: this.isProtected(e), base: e.base })
    }
    return out
  }

  private isProtected (e: UrlEntry): boolean {
    const { store, collections } = this.components
    return store.pinOwners(CID.parse(e.cid)).some(owner => owner !== CACHE_PIN) || (collections?.holds(e.cid) ?? false)
  }

  private async release (e: UrlEntry): Promise<void> {
    if (e.cachePinned && !this.components.index.sharesRoot(e.cid, e.url)) await this.components.store.unpin(CID.parse(e.cid), CACHE_PIN)
  }
}
