import { ProtocolError } from './wire.js'
import { LeafSet, type HoldingsMessage } from './holdings.js'

/**
 * What the peers we trade with hold of the DAGs we download (holdings.ts messages), for the fetcher's choice of
 * holders and of rarest blocks. Bounded: at most `maxBytes` of bitfields in all (the least recently told entry
 * goes first), and a peer's claims on a root end when it denies `maxDenials` blocks it claimed (a peer that claims
 * what it cannot serve is believed no more, for that root, until it is forgotten).
 */
export interface HoldingsTableOptions {
  /** Bytes of bitfields kept over all peers and roots. @default 16 MiB (128 DAGs of 2^20 leaves, or 16k of 8192) */
  maxBytes?: number
  /** Claimed blocks a peer may deny before its claims on that root are dropped and ignored. @default 3 */
  maxDenials?: number
}

interface Entry {
  peer: string
  root: string
  set: LeafSet
  denials: number
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024
const DEFAULT_MAX_DENIALS = 3
/** Peer and root pairs remembered as distrusted. */
const MAX_DISTRUSTED = 4096

export class HoldingsTable {
  /** Entries by peer and root, in order of the last message (a Map keeps insertion order: oldest first). */
  private readonly entries = new Map<string, Entry>()
  /** Peers whose claims on a root are no longer believed. */
  private readonly distrusted = new Set<string>()
  private bytes = 0
  private readonly maxBytes: number
  private readonly maxDenials: number

  constructor (options: HoldingsTableOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
    this.maxDenials = options.maxDenials ?? DEFAULT_MAX_DENIALS
  }

  /** Bytes of bitfields held now. */
  get size (): number {
    return this.bytes
  }

  /**
   * Take a message from `peer`: a 'holdings' replaces what was known of its holdings of the root, a 'have' adds
   * to them (a have before any holdings starts from nothing). `leaves`, when the DAG's leaf count is known here,
   * must match the message's, or it is a ProtocolError. Messages from a peer distrusted for the root are ignored;
   * whether the message was taken.
   */
  receive (peer: string, m: HoldingsMessage, leaves?: number): boolean {
    if (leaves !== undefined && m.leaves.size !== leaves) throw new ProtocolError(`holdings of ${m.leaves.size} leaves for a DAG of ${leaves}`)
    const root = m.root.toString()
    const k = key(peer, root)
    if (this.distrusted.has(k)) return false
    const old = this.entries.get(k)
    if (old !== undefined && old.set.size !== m.leaves.size) throw new ProtocolError(`holdings of ${m.leaves.size} leaves after ${old.set.size}`)
    if (m.t === 'have' && old !== undefined) {
      old.set.addAll(m.leaves)
      this.entries.delete(k)
      this.entries.set(k, old)
      return true
    }
    if (old !== undefined) this.drop(k)
    const set = new LeafSet(m.leaves.size)
    set.addAll(m.leaves)
    this.entries.set(k, { peer, root, set, denials: old?.denials ?? 0 })
    this.bytes += set.bits.length
    while (this.bytes > this.maxBytes && this.entries.size > 1) this.drop(this.entries.keys().next().value!)
    return true
  }

  /** Whether `peer` said it holds leaf `leaf` of `root`; undefined while it said nothing of that root. */
  holds (peer: string, root: string, leaf: number): boolean | undefined {
    return this.entries.get(key(peer, root))?.set.has(leaf)
  }

  /** Peers that said they hold leaf `leaf` of `root`. */
  holders (root: string, leaf: number): string[] {
    const out: string[] = []
    for (const e of this.entries.values()) if (e.root === root && e.set.has(leaf)) out.push(e.peer)
    return out
  }

  /**
   * `peer` denied leaf `leaf` of `root` it had claimed (a dont-have, or a request it did not answer): the claim
   * goes, and after `maxDenials` all its claims on the root go and its messages on it are ignored. Whether the
   * peer is distrusted now.
   */
  denied (peer: string, root: string, leaf: number): boolean {
    const k = key(peer, root)
    const e = this.entries.get(k)
    if (e === undefined || !e.set.has(leaf)) return this.distrusted.has(k)
    e.denials++
    if (e.denials < this.maxDenials) {
      e.set.delete(leaf)
      return false
    }
    this.drop(k)
    this.distrusted.add(k)
    // bounded too: the oldest distrust goes first
    if (this.distrusted.size > MAX_DISTRUSTED) this.distrusted.delete(this.distrusted.values().next().value!)
    return true
  }

  /** Forget everything `peer` said, and its distrust (it disconnected). */
  forget (peer: string): void {
    for (const [k, e] of [...this.entries]) if (e.peer === peer) this.drop(k)
    for (const k of [...this.distrusted]) if (k.startsWith(`${peer} `)) this.distrusted.delete(k)
  }

  private drop (k: string): void {
    const e = this.entries.get(k)
    if (e === undefined) return
    this.entries.delete(k)
    this.bytes -= e.set.bits.length
  }
}

function key (peer: string, root: string): string {
  return `${peer} ${root}`
}
