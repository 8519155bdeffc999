/** The walk of a DAG being fetched: the links of the nodes held or verified, leaf sizes, and the DAG's budget. */
import type { CID } from 'multiformats/cid'
import { cidKey as keyOf } from '../../dag/cid.js'
import { CODEC_DAG_CBOR, CODEC_RAW } from '../../dag/constants.js'
import { blockLinks } from '../../dag/links.js'
import { decodeNode, type DagNode } from '../../dag/nodes.js'
import { DagTooLargeError } from '../../errors.js'
import type { Block } from '../../store/interface.js'
import type { BlockSource } from './fetch-interface.js'
import type { FetchSession } from './session.js'
import type { WantList } from './want-list.js'

/**
 * Where in each node's links a fetch starts (a fraction, drawn once): neighbours fetching the same new resource at
 * once each begin at a different place, so they soon hold different blocks to trade instead of all asking the
 * publisher for the same ones first. Runs of neighbouring blocks stay together; with an HTTP mirror among the
 * sources the walk keeps file order, so the mirror reads each file in as few ranges as it can. The rarest-first
 * order, when on, still comes first.
 */
export function rotationFor (sources: BlockSource[]): number {
  return sources.some(s => s.kind === 'mirror') ? 0 : Math.random()
}

export class DagWalk {
  /** Sizes of leaves, as the file and directory nodes above them give them. */
  readonly leafSize = new Map<string, number>()
  /** Every block the walk reached; true once its bytes are counted against maxBytes. */
  private readonly seen = new Map<string, boolean>()
  private dagBytes = 0
  /** Blocks reached and not yet looked up in the store. */
  private readonly pending: CID[] = []

  constructor (private readonly session: FetchSession, private readonly wants: WantList, private readonly rotation: number) {}

  /** Whether every block reached has been looked up (held, or wanted). */
  get settled (): boolean {
    return this.pending.length === 0
  }

  /** A block the walk reached: looked up in the store by the next settle. */
  discover (cid: CID): void {
    const k = keyOf(cid)
    if (this.seen.has(k)) return
    this.seen.set(k, false)
    if (this.seen.size > this.session.maxBlocks) throw new DagTooLargeError(this.session.root.toString(), 'blocks', this.session.maxBlocks)
    this.pending.push(cid)
  }

  /** Note a block held (or just stored): its links join the walk. `from` sent it (undefined: it was held). */
  expand (cid: CID, bytes: Uint8Array, from?: string): void {
    if (cid.code === CODEC_RAW) return
    this.session.options.base?.expanded(cid, bytes)
    const { links, file } = linksOf(cid, bytes, this.leafSize)
    this.session.holders.linked(keyOf(cid), links.map(keyOf), from)
    // a file node lists its leaves in order: the leaf order its holdings are told in
    if (file && links.length > 0) this.session.options.trading?.file(cid, links, [...this.session.live.keys()])
    const start = Math.floor(this.rotation * links.length)
    for (let i = 0; i < links.length; i++) this.discover(links[(start + i) % links.length]!)
  }

  /** Sort newly reached blocks into held (expanded here, its bytes counted) and wanted. */
  async settle (): Promise<void> {
    const { session } = this
    while (this.pending.length > 0) {
      const cid = this.pending.pop()!
      if (await session.store.has(cid)) {
        // part of the DAG held already (an earlier attempt): the download has begun
        if (cid.equals(session.root)) session.progressed()
        if (cid.code === CODEC_RAW && !Number.isFinite(session.maxBytes)) continue
        const bytes = session.store.getSync(cid)
        this.seen.set(keyOf(cid), true)
        this.dagBytes += bytes.length
        if (this.dagBytes > session.maxBytes) throw new DagTooLargeError(session.root.toString(), 'bytes', session.maxBytes)
        this.expand(cid, bytes)
      } else {
        this.wants.want(cid)
      }
    }
  }

  /** Count verified blocks against maxBytes before they are stored: a block past it is never written. */
  charge (blocks: Block[]): void {
    let added = 0
    for (const b of blocks) if (this.seen.get(keyOf(b.cid)) === false) added += b.bytes.length
    if (this.dagBytes + added > this.session.maxBytes) throw new DagTooLargeError(this.session.root.toString(), 'bytes', this.session.maxBytes)
    this.dagBytes += added
    for (const b of blocks) this.seen.set(keyOf(b.cid), true)
  }
}

/**
 * The links of a block to walk, noting the sizes a cmesh file or directory node gives its raw leaves: such a node
 * is decoded once for both; other blocks (manifests, DAG-PB) give their links without sizes. `file`: the block is
 * a cmesh file node (its links are its leaves in order).
 */
function linksOf (cid: CID, bytes: Uint8Array, sizes: Map<string, number>): { links: CID[], file: boolean } {
  if (cid.code !== CODEC_DAG_CBOR) return { links: blockLinks(cid, bytes), file: false }
  let node: DagNode
  try {
    node = decodeNode(cid, bytes)
  } catch {
    return { links: blockLinks(cid, bytes), file: false }
  }
  const links: CID[] = []
  if (node.type === 'archive') {
    links.push(node.content.cid, node.tree)
    if (node.delta !== undefined) links.push(node.delta.tail.cid)
  } else if (node.type === 'file') {
    for (const l of node.links) {
      links.push(l.cid)
      if (l.cid.code === CODEC_RAW) sizes.set(keyOf(l.cid), l.size)
    }
  } else {
    for (const e of node.entries ?? []) {
      if (e.cid === undefined) continue // a symlink
      links.push(e.cid)
      if (e.kind === 'file' && e.cid.code === CODEC_RAW) sizes.set(keyOf(e.cid), e.size)
    }
    for (const p of node.parts ?? []) links.push(p.cid)
  }
  return { links, file: node.type === 'file' }
}
