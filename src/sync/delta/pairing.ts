/**
 * Which old blocks a new block is likely close to: the positional counterparts in the old version's DAG. A new
 * node's children are paired with the children of the old node at the same place (the directory at the same path,
 * the file node at the same place in the file's tree): named children (directory entries, HAMT links) by name,
 * ordered children (a file's pieces, a split directory's parts) by the range they cover (content bytes, or entries),
 * each new child with the old ones overlapping its range. Works across formats (a cmesh node against a UnixFS one).
 */
import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB } from '../../dag/constants.js'
import { decodeNode } from '../../dag/nodes.js'
import { decodeUnixfs } from '../../dag/unixfs/index.js'
import { MAX_BASES } from './constants.js'

interface Children {
  named: Map<string, CID>
  /** Ordered children with the span each covers, from `start`. */
  ranged: Array<{ cid: CID, size: number }>
  start: number
}

/** The children of a cmesh or UnixFS node, or undefined for a raw block or one that does not decode. */
function childrenOf (cid: CID, bytes: Uint8Array): Children | undefined {
  const c: Children = { named: new Map(), ranged: [], start: 0 }
  try {
    if (cid.code === CODEC_DAG_CBOR) {
      const node = decodeNode(cid, bytes)
      if (node.type === 'file') {
        for (const l of node.links) c.ranged.push({ cid: l.cid, size: l.size })
      } else if (node.type === 'dir') {
        for (const e of node.entries ?? []) if (e.cid !== undefined) c.named.set('e/' + e.name, e.cid)
        for (const p of node.parts ?? []) c.ranged.push({ cid: p.cid, size: p.count })
      } else {
        c.named.set('content', node.content.cid)
        c.named.set('tree', node.tree)
        if (node.delta !== undefined) c.named.set('tail', node.delta.tail.cid)
      }
    } else if (cid.code === CODEC_DAG_PB) {
      const node = decodeUnixfs(cid, bytes)
      if (node.type === 'file') {
        c.start = node.data.length
        for (const ch of node.children) c.ranged.push({ cid: ch.cid, size: ch.size })
      } else if (node.type === 'dir') {
        for (const l of node.links) c.named.set('e/' + l.name, l.cid)
      } else if (node.type === 'hamt') {
        // an entry by its name (its label follows from it), a sub-shard by its label
        for (const l of node.links) c.named.set(l.name === undefined ? 's/' + l.label : 'e/' + l.name, l.cid)
      }
    } else {
      return undefined
    }
  } catch {
    return undefined
  }
  return c
}

/** A block of either DAG at its place: `at` is where its span starts (content bytes or entries; 0 for a named one). */
export interface Placed {
  cid: CID
  bytes: Uint8Array
  at: number
}

/** A block wanted, with where its span starts and the old blocks at the same place (and where theirs start). */
export interface Pairing {
  wanted: CID
  at: number
  bases: Array<{ cid: CID, at: number }>
}

/**
 * The children of new block `next` that the old blocks `prev` (at the same place in the old DAG: one for a named
 * node, the old pieces overlapping it for a piece of a file) do not have as they are, each with up to MAX_BASES
 * old children at the same place. Children with no counterpart are left out.
 */
export function pairChildren (next: Placed, prev: Placed[]): Pairing[] {
  const a = childrenOf(next.cid, next.bytes)
  if (a === undefined) return []
  const named = new Map<string, CID>()
  const ranged: Array<{ cid: CID, from: number, to: number }> = []
  const held = new Set<string>()
  for (const p of prev) {
    const b = childrenOf(p.cid, p.bytes)
    if (b === undefined) continue
    for (const [name, cid] of b.named) {
      if (!named.has(name)) named.set(name, cid)
      held.add(cidKey(cid))
    }
    let at = p.at + b.start
    for (const r of b.ranged) {
      ranged.push({ cid: r.cid, from: at, to: at += r.size })
      held.add(cidKey(r.cid))
    }
  }
  const out: Pairing[] = []
  for (const [name, cid] of a.named) {
    const base = named.get(name)
    if (base !== undefined && !held.has(cidKey(cid))) out.push({ wanted: cid, at: 0, bases: [{ cid: base, at: 0 }] })
  }
  if (ranged.length === 0) return out
  ranged.sort((x, y) => x.from - y.from)
  let from = next.at + a.start
  let j = 0
  for (const r of a.ranged) {
    const to = from + r.size
    if (!held.has(cidKey(r.cid))) {
      while (j < ranged.length - 1 && ranged[j]!.to <= from) j++
      const bases: Array<{ cid: CID, at: number }> = []
      // the old children overlapping [from, to), at least the nearest one
      for (let k = j; k < ranged.length && bases.length < MAX_BASES; k++) {
        if (bases.length > 0 && ranged[k]!.from >= to) break
        bases.push({ cid: ranged[k]!.cid, at: ranged[k]!.from })
      }
      out.push({ wanted: r.cid, at: from, bases })
    }
    from = to
  }
  return out
}

/**
 * The bases of the blocks of a new DAG, learnt as its nodes arrive: the new root is paired with the old root, and
 * each new node that arrives (or is held) pairs its children with the children of its own bases. Reads old blocks
 * from the store (they are held: they are the old version). Memory: one entry per block of the new DAG reached.
 */
export class BasePicker {
  private readonly pairs = new Map<string, Pairing>()

  constructor (private readonly store: { getSync: (cid: CID) => Uint8Array }, newRoot: CID, oldRoot: CID) {
    this.pairs.set(cidKey(newRoot), { wanted: newRoot, at: 0, bases: [{ cid: oldRoot, at: 0 }] })
  }

  /** A block of the new DAG is held (fetched, or held before): its children are paired with its bases' children. */
  expanded (cid: CID, bytes: Uint8Array): void {
    const p = this.pairs.get(cidKey(cid))
    if (p === undefined) return
    const prev: Placed[] = []
    for (const b of p.bases) {
      const held = this.read(b.cid)
      if (held !== undefined) prev.push({ cid: b.cid, bytes: held, at: b.at })
    }
    for (const child of pairChildren({ cid, bytes, at: p.at }, prev)) {
      const k = cidKey(child.wanted)
      if (!this.pairs.has(k)) this.pairs.set(k, child)
    }
  }

  /** The old blocks block `cid` of the new DAG is likely close to, or undefined when it has none. */
  basesOf (cid: CID): CID[] | undefined {
    return this.pairs.get(cidKey(cid))?.bases.map(b => b.cid)
  }

  /** The bytes of a held old block, or undefined when it is not held. */
  read (cid: CID): Uint8Array | undefined {
    try {
      return this.store.getSync(cid)
    } catch {
      return undefined
    }
  }
}
