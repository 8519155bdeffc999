import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import { CODEC_RAW } from '../../dag/constants.js'
import { blockLinks } from '../../dag/links.js'
import type { Blockstore } from '../../store/interface.js'
import { PRIORITY_MAX_BLOCKS } from './constants.js'
import type { Purpose } from '../collections/governance.js'
import type { PriorityClass } from './policy-file.js'

/** Roots of resources of the given purposes: a node's joined collections. */
export interface PurposeIndex {
  purposeRoots: (purposes: Purpose[]) => CID[]
}

/**
 * Sorts requests into the policy's priority classes, highest first: a request goes in the first class with a
 * rule it matches (its peer, its size in blocks, or one of its blocks lying in a DAG the class names, directly by
 * root or through a collection resource's purpose). DAGs are walked in this node's store, as far as it holds
 * them, when the classes are set and again on `refresh()` (new resources, newly fetched blocks).
 */
export class PriorityClasses {
  private classes: PriorityClass[] = []
  private blocks: Array<Set<string>> = []
  private defaultIndex = 0

  private purposes: PurposeIndex | undefined

  constructor (private readonly store: Pick<Blockstore, 'getSync'>, classes: PriorityClass[]) {
    this.set(classes)
  }

  /**
   * Where the `purposes` rules find their roots (a node's collections, which download through the block service
   * these classes serve: the node joins the two once both exist). The classes are walked again.
   */
  follow (purposes: PurposeIndex): void {
    this.purposes = purposes
    this.refresh()
  }

  get names (): string[] {
    return this.classes.map(c => c.name)
  }

  set (classes: PriorityClass[]): void {
    this.classes = classes
    const d = classes.findIndex(c => c.name === 'default')
    this.defaultIndex = d < 0 ? classes.length - 1 : d
    this.refresh()
  }

  /** Walk the classes' DAGs again. */
  refresh (): void {
    this.blocks = this.classes.map(c => {
      const roots = [...(c.cids ?? []), ...(c.purposes !== undefined && c.purposes.length > 0 ? this.purposes?.purposeRoots(c.purposes) ?? [] : [])]
      return this.walk(roots)
    })
  }

  private walk (roots: CID[]): Set<string> {
    const out = new Set<string>()
    const todo = [...roots]
    while (todo.length > 0 && out.size < PRIORITY_MAX_BLOCKS) {
      const cid = todo.pop()!
      const k = cidKey(cid)
      if (out.has(k)) continue
      out.add(k)
      if (cid.code === CODEC_RAW) continue
      try {
        todo.push(...blockLinks(cid, this.store.getSync(cid)))
      } catch {} // not held (yet), or not decodable: its links are unknown
    }
    return out
  }

  /** Index of the class of a request by `peer` for `cids` (0 = highest). */
  classify (peer: string, cids: CID[]): number {
    for (const [i, c] of this.classes.entries()) {
      if (c.peers?.includes(peer) === true) return i
      if (c.maxBlocks !== undefined && cids.length <= c.maxBlocks) return i
      const set = this.blocks[i]
      if (set !== undefined && set.size > 0 && cids.some(cid => set.has(cidKey(cid)))) return i
    }
    return this.defaultIndex
  }
}
