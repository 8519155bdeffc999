import type { CID } from 'multiformats/cid'
import { sleep, systemClock, type Clock } from '../../clock.js'
import { cidKey } from '../../dag/cid.js'
import { CODEC_DAG_CBOR } from '../../dag/constants.js'
import { decodeNode } from '../../dag/nodes.js'
import type { Blockstore } from '../../store/interface.js'
import { LeafSet } from './holdings.js'
import type { HoldingsTable } from './holdings-table.js'
import { MAX_SUPER_SEED_TRADERS, MAX_SUPER_SEEDED_LEAVES, MAX_SUPER_SEEDED_NOT_OURS, SUPER_SEED_HOLD_MS } from './constants.js'

/** A file this node holds whole and super-seeds. */
interface Seeded {
  root: string
  leaves: number
  /** Copies of each leaf this node sent (saturating). */
  sends: Uint16Array
  /** When each leaf was last sent (clock ms). */
  sentAt: Float64Array
  /** Leaves refused once, per peer: the second ask of a leaf is answered (nobody else could serve it). */
  refused: Map<string, LeafSet>
}

/**
 * BitTorrent's super-seeding, for a request-driven protocol: a node that holds whole a file that downloaders trade
 * on (the holdings protocol) sends each leaf about once and lets the swarm pass it on.
 * A downloader that trades (it speaks the holdings protocol) and asks for a leaf this node has already sent is
 * told dont-have when another peer says it holds that leaf, so it takes it from that peer; if it asks again (it
 * could not get it elsewhere), it gets it. Leaves never sent go first in every answer (`order`), and an answer of
 * leaves just sent to another peer waits a moment for that peer's have (`hold`). A downloader that does not trade,
 * and a leaf nobody else claims, are served as before.
 *
 * Bounded: at most MAX_SUPER_SEEDED_LEAVES leaves of all files are indexed (the oldest file goes first), and files
 * found not to be held whole here are remembered, up to MAX_SUPER_SEEDED_NOT_OURS, so that a message about one
 * does not decode it again.
 */
export class SuperSeeder {
  private readonly files = new Map<string, Seeded>()
  /** Where each leaf of a super-seeded file sits, by block key. */
  private readonly leafOf = new Map<string, { s: Seeded, index: number }>()
  private readonly notOurs = new Set<string>()
  /** Peers that trade (they told us holdings, or speak the protocol): they learn who else holds a leaf. */
  private readonly traders = new Set<string>()
  private indexed = 0
  /** Leaves refused (told dont-have so the asker takes them from another peer). */
  refusals = 0
  /** Answers held back for a taker's have (`hold`). */
  holds = 0

  constructor (
    private readonly table: Pick<HoldingsTable, 'holders'>,
    private readonly store: Pick<Blockstore, 'getSync' | 'sizeOf'>,
    private readonly clock: Clock = systemClock
  ) {}

  /** Files super-seeded now. */
  get seeding (): number {
    return this.files.size
  }

  /** A peer told us its holdings of file `root` (this node does not fetch it): super-seed it if this node holds it whole. */
  told (peer: string, root: CID): void {
    this.trades(peer)
    this.index(root)
  }

  /** `peer` trades holdings (it told us some, or speaks the protocol): it learns who else holds a leaf. */
  trades (peer: string): void {
    if (!this.traders.has(peer) && this.traders.size < MAX_SUPER_SEED_TRADERS) this.traders.add(peer)
  }

  /** Super-seed `root` from now on if it is a file node this node holds whole (once per file). */
  private index (root: CID): void {
    const key = root.toString()
    if (this.files.has(key) || this.notOurs.has(key)) return
    if (this.open(root, key) !== undefined) return
    if (this.notOurs.size >= MAX_SUPER_SEEDED_NOT_OURS) this.notOurs.delete(this.notOurs.values().next().value!)
    this.notOurs.add(key)
  }

  /** Index file `root` if it is a file node held here with every leaf. */
  private open (root: CID, key: string): Seeded | undefined {
    if (root.code !== CODEC_DAG_CBOR || this.store.sizeOf(root) === undefined) return undefined
    let links: CID[]
    try {
      const node = decodeNode(root, this.store.getSync(root))
      if (node.type !== 'file') return undefined
      links = node.links.map(l => l.cid)
    } catch {
      return undefined
    }
    if (links.length < 2 || links.length > MAX_SUPER_SEEDED_LEAVES) return undefined
    if (links.some(c => this.store.sizeOf(c) === undefined)) return undefined
    while (this.indexed + links.length > MAX_SUPER_SEEDED_LEAVES && this.files.size > 0) this.drop(this.files.keys().next().value!)
    const s: Seeded = { root: key, leaves: links.length, sends: new Uint16Array(links.length), sentAt: new Float64Array(links.length), refused: new Map() }
    this.files.set(key, s)
    links.forEach((c, index) => { const k = cidKey(c); if (!this.leafOf.has(k)) this.leafOf.set(k, { s, index }) })
    this.indexed += links.length
    return s
  }

  private drop (key: string): void {
    const s = this.files.get(key)
    if (s === undefined) return
    this.files.delete(key)
    for (const [k, at] of this.leafOf) if (at.s === s) this.leafOf.delete(k)
    this.indexed -= s.leaves
  }

  /** `cids` in the order to answer them: leaves never sent first, otherwise in the order asked. */
  order (cids: CID[]): CID[] {
    if (this.leafOf.size === 0) return cids
    const fresh: CID[] = []
    const rest: CID[] = []
    for (const c of cids) {
      const at = this.leafOf.get(cidKey(c))
      ;(at !== undefined && at.s.sends[at.index]! > 0 ? rest : fresh).push(c)
    }
    return rest.length === 0 ? cids : fresh.concat(rest)
  }

  /**
   * Before answering `peer` the leaves `cids` (in the order `order` gave), wait while every one of them was sent
   * to another peer within SUPER_SEED_HOLD_MS and nobody says yet that it holds it: the taker's have is likely on
   * its way, and then `refuse` sends the asker there instead of sending a copy again. No wait when any leaf was
   * never sent, or for a peer that does not trade.
   */
  async hold (peer: string, cids: CID[], signal?: AbortSignal): Promise<void> {
    if (this.leafOf.size === 0 || !this.traders.has(peer)) return
    const now = this.clock.now()
    let wait = Number.POSITIVE_INFINITY
    for (const c of cids) {
      const at = this.leafOf.get(cidKey(c))
      if (at === undefined) return
      const { s, index } = at
      if (s.sends[index] === 0 || s.refused.get(peer)?.has(index) === true) return
      if (this.heldElsewhere(s.root, index, peer)) continue // refused when its turn comes: no wait
      wait = Math.min(wait, s.sentAt[index]! + SUPER_SEED_HOLD_MS - now)
      if (wait <= 0) return
    }
    if (!Number.isFinite(wait)) return
    this.holds++
    await sleep(this.clock, wait, signal)
  }

  /**
   * Whether to refuse `cid` to `peer` now: a leaf of a super-seeded file, sent before, that another peer says it
   * holds, asked by a downloader that trades on the file and was not refused it before.
   */
  refuse (peer: string, cid: CID): boolean {
    if (this.leafOf.size === 0) return false
    const at = this.leafOf.get(cidKey(cid))
    if (at === undefined) return false
    const { s, index } = at
    if (s.sends[index] === 0) return false
    // a downloader that does not trade would not learn who else holds it
    if (!this.traders.has(peer)) return false
    let refused = s.refused.get(peer)
    if (refused?.has(index) === true) return false
    if (!this.heldElsewhere(s.root, index, peer)) return false
    if (refused === undefined) s.refused.set(peer, refused = new LeafSet(s.leaves))
    refused.add(index)
    this.refusals++
    return true
  }

  /** Whether a peer other than `asker` says it holds leaf `leaf` of file `root`. */
  private heldElsewhere (root: string, leaf: number, asker: string): boolean {
    return this.table.holders(root, leaf).some(p => p !== asker)
  }

  /**
   * `cid` was sent (to anyone). A file node sent is indexed as `told` would: its leaves are asked for next, maybe
   * before the asker's holdings arrive, and what goes then counts too.
   */
  sent (cid: CID): void {
    if (this.leafOf.size > 0) {
      const at = this.leafOf.get(cidKey(cid))
      if (at !== undefined) {
        if (at.s.sends[at.index]! < 0xffff) at.s.sends[at.index]!++
        at.s.sentAt[at.index] = this.clock.now()
      }
    }
    if (cid.code === CODEC_DAG_CBOR) this.index(cid)
  }

  /** Copies of `cid` this node sent, if it is a leaf of a file it super-seeds (tests, stats). */
  copies (cid: CID): number | undefined {
    const at = this.leafOf.get(cidKey(cid))
    return at === undefined ? undefined : at.s.sends[at.index]
  }

  /** `peer` left: what it was refused is forgotten. */
  forget (peer: string): void {
    this.traders.delete(peer)
    for (const s of this.files.values()) s.refused.delete(peer)
  }
}
