import type { Trading } from './fetch-interface.js'

/**
 * How likely a source is to hold a block, best first: it said it holds it (holdings); it sent the block's parent;
 * nothing known; it lacked an ancestor, or said it lacks the block (holdings).
 */
export type HolderTier = 0 | 1 | 2 | 3

/** What a node taught about its children: who sent it, who lacked it, and what its own parent taught. */
interface Hint {
  from: string | undefined
  lackers: Set<string> | undefined
  up: Hint | undefined
}

/**
 * What one fetch has learned of who holds which of its blocks (keys are block keys, sources are ids). Sources
 * say they lack a block when asked for it or about it, and hold it when asked about it (rarest first). For a
 * block nobody was asked about yet, its parent hints: the source that sent a node most likely holds what it
 * links to (a seeder holds whole DAGs), and a source that lacked the node most likely lacks that too. Hints only
 * order the sources; a source is never skipped on a hint, so neighbours mid-download still trade blocks. A have
 * answer does not count as a hint: a mirror answers from what it assumes, and would go ahead of the peers.
 * What downloaders of the same DAG told of their holdings (`trading`) counts before the hints: a peer that said it
 * holds a leaf goes first, one that said it lacks it last.
 */
export class Holders {
  constructor (private readonly trading?: Pick<Trading, 'holds'>) {}

  private readonly lacking = new Map<string, Set<string>>()
  private readonly holding = new Map<string, Set<string>>()
  private readonly hints = new Map<string, Hint>()

  /**
   * Whether `source` said it lacks block `key`, and has not said since that it holds it: a downloader asked for a
   * block before it had it, which then verified it and told of it (a have), holds it now. (A claim it denied was
   * dropped by the trading table, so a claim standing after a refusal is always the newer word.)
   */
  lacks (key: string, source: string): boolean {
    return this.lacking.get(key)?.has(source) === true && this.trading?.holds(source, key) !== true
  }

  /** The sources that said they lack block `key`, if any did. */
  lackers (key: string): ReadonlySet<string> | undefined {
    return this.lacking.get(key)
  }

  /** `source` lacks block `key` (it said so, or was asked for it and did not send it). */
  lack (key: string, source: string): void {
    let set = this.lacking.get(key)
    if (set === undefined) this.lacking.set(key, set = new Set())
    set.add(source)
    this.holding.get(key)?.delete(source)
  }

  /** Forget who lacked `keys`: they may hold them now (a patient fetch asks again). */
  forgetLacking (keys: Iterable<string>): void {
    for (const k of keys) this.lacking.delete(k)
  }

  /** Whether holders of `key` were asked about (whatever they answered). */
  asked (key: string): boolean {
    return this.holding.has(key)
  }

  /** Holders of `key` are being asked about. */
  asking (key: string): void {
    this.holding.set(key, new Set())
  }

  /** `source` said it holds block `key`. */
  hold (key: string, source: string): void {
    this.holding.get(key)?.add(source)
  }

  /** How many sources said they hold `key`, or undefined while nobody was asked. */
  count (key: string): number | undefined {
    return this.holding.get(key)?.size
  }

  /** Block `parent` links to `children`; `from` sent it (undefined: it was held here already). */
  linked (parent: string, children: Iterable<string>, from: string | undefined): void {
    const lackers = this.lacking.get(parent)
    const up = this.hints.get(parent)
    if (from === undefined && lackers === undefined && up === undefined) return
    const hint: Hint = { from, lackers, up }
    for (const c of children) this.hints.set(c, hint)
  }

  /** How likely `source` is to hold block `key`. */
  tier (key: string, source: string): HolderTier {
    const claim = this.trading?.holds(source, key)
    if (claim === true) return 0
    if (claim === false) return 3
    const hint = this.hints.get(key)
    if (hint?.from === source) return 1
    // a source that lacked an ancestor (the root, say) most likely lacks the whole DAG below it
    for (let h = hint; h !== undefined; h = h.up) if (h.lackers?.has(source) === true) return 3
    return 2
  }
}
