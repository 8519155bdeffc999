/**
 * Decayed request counts: each request adds 1, and a count halves every `halfLifeMs`. Counts are kept as
 * (value, at) pairs and decayed when read, so nothing runs on a timer. The community's popularity of a key is
 * this node's count plus the latest aggregate each other member reported (decayed to now): members share totals
 * per key, never who asked.
 */
export interface DecayedCount {
  value: number
  at: number
}

export function decayed (c: DecayedCount, now: number, halfLifeMs: number): number {
  return now <= c.at ? c.value : c.value * 2 ** (-(now - c.at) / halfLifeMs)
}

export class Popularity {
  private readonly local = new Map<string, DecayedCount>()
  /** The latest report of each member: key -> count at the report's time. */
  private readonly reports = new Map<string, { at: number, counts: Map<string, number> }>()

  constructor (private readonly halfLifeMs: number, private readonly now: () => number = Date.now) {}

  /** Count one request for `key` here. */
  record (key: string, weight = 1): void {
    const t = this.now()
    const c = this.local.get(key)
    this.local.set(key, { value: (c === undefined ? 0 : decayed(c, t, this.halfLifeMs)) + weight, at: t })
  }

  /** This node's decayed count of `key`. */
  localCount (key: string): number {
    const c = this.local.get(key)
    return c === undefined ? 0 : decayed(c, this.now(), this.halfLifeMs)
  }

  /** Take a member's report (its own local counts at time `at`); replaces the member's earlier one. */
  merge (member: string, at: number, counts: Iterable<[string, number]>): void {
    const held = this.reports.get(member)
    if (held !== undefined && held.at >= at) return
    this.reports.set(member, { at: Math.min(at, this.now()), counts: new Map(counts) })
  }

  /** Forget a member's report (it left). */
  forget (member: string): void {
    this.reports.delete(member)
  }

  /** Community popularity of `key`: this node's count plus every member's last report, decayed to now. */
  count (key: string): number {
    const t = this.now()
    let sum = this.localCount(key)
    for (const r of this.reports.values()) {
      const v = r.counts.get(key)
      if (v !== undefined) sum += decayed({ value: v, at: r.at }, t, this.halfLifeMs)
    }
    return sum
  }

  /** Keys any member reported or this node counted. */
  keys (): Set<string> {
    const out = new Set(this.local.keys())
    for (const r of this.reports.values()) for (const k of r.counts.keys()) out.add(k)
    return out
  }

  /** This node's `max` highest counts (for its report), dropping keys decayed below `floor`. */
  top (max: number, floor = 0.01): Array<[string, number]> {
    const t = this.now()
    const out: Array<[string, number]> = []
    for (const [k, c] of this.local) {
      const v = decayed(c, t, this.halfLifeMs)
      if (v < floor) this.local.delete(k)
      else out.push([k, v])
    }
    out.sort((a, b) => b[1] - a[1])
    return out.slice(0, max)
  }
}
