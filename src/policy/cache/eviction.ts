import { DEFAULT_NON_OWNER_FACTOR, DEFAULT_REQUEST_COST } from './constants.js'

/**
 * Greedy-Dual-Size-Frequency eviction with community popularity. An item's priority is
 *
 *     H = L + popularity * (size + requestCost) / size * (owned ? 1 : nonOwnerFactor)
 *
 * where L is the cache's inflation (the priority of the last item evicted: items not requested for a while age
 * out against newer ones), popularity is the community's decayed request count, and (size + requestCost) / size
 * weighs small objects up (what one hit saves over what keeping it costs, counting a fixed cost per request).
 * Items this node is not an owner of (rendezvous) go first: another member is responsible for them. Protected
 * items (pinned by the user, held by a collection) are never chosen.
 */
export interface EvictionItem {
  key: string
  size: number
  /** Community popularity (decayed request count). */
  popularity: number
  /** This node is one of the item's k owners. */
  owned: boolean
  /** Pinned by someone other than the cache, or held by a collection: never evicted. */
  protected: boolean
  /** The inflation L when the item was last requested or stored. */
  base: number
}

export interface GdsfOptions {
  /** Fixed cost of a request in bytes (headers, round trips), so a small object's hit counts for more. @default 4096 */
  requestCost?: number
  /** Priority multiplier of items this node does not own. @default 0.25 */
  nonOwnerFactor?: number
}

export class GdsfPolicy {
  /** The inflation L: priority of the last item evicted. */
  inflation = 0
  private readonly requestCost: number
  private readonly nonOwnerFactor: number

  constructor (options: GdsfOptions = {}) {
    this.requestCost = options.requestCost ?? DEFAULT_REQUEST_COST
    this.nonOwnerFactor = options.nonOwnerFactor ?? DEFAULT_NON_OWNER_FACTOR
  }

  priority (item: Omit<EvictionItem, 'key' | 'protected'>): number {
    const size = Math.max(1, item.size)
    return item.base + Math.max(item.popularity, 0) * (size + this.requestCost) / size * (item.owned ? 1 : this.nonOwnerFactor)
  }

  /**
   * Items to evict, lowest priority first, until at least `bytes` are freed (fewer if only protected items are
   * left). Raises the inflation to the highest priority evicted.
   */
  victims (items: Iterable<EvictionItem>, bytes: number): EvictionItem[] {
    if (bytes <= 0) return []
    const ranked = [...items].filter(i => !i.protected).map(i => ({ item: i, h: this.priority(i) }))
    ranked.sort((a, b) => a.h - b.h || b.item.size - a.item.size || (a.item.key < b.item.key ? -1 : 1))
    const out: EvictionItem[] = []
    let freed = 0
    for (const r of ranked) {
      if (freed >= bytes) break
      out.push(r.item)
      freed += r.item.size
      this.inflation = Math.max(this.inflation, r.h)
    }
    return out
  }
}
