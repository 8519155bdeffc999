import { readFileSync, statSync } from 'node:fs'
import type { Connection, IdentifyResult, Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { systemClock, type Clock } from '../../clock.js'
import { localSubnets, onSegment } from '../../policy/fairness/segments.js'
import { repoPath } from '../../repo/index.js'
import { writeJsonFile } from '../../store/json-file.js'
import { isLoopback } from './addresses.js'
import { MAX_ADDRS, MAX_PEERS_FILE_BYTES, MAX_REMEMBERED_AGE_MS, MAX_REMEMBERED_PEERS, PEERS_SAVE_DELAY_MS } from './constants.js'

/** A peer this node was connected to, as `<repo>/peers.json` keeps it. */
export interface RememberedPeer {
  peerId: string
  /** Its last good addresses: the one we dialled it at, then those it announced (identify); at most MAX_ADDRS. */
  addrs: string[]
  /** When it was last connected (ms since the epoch). */
  lastConnected: number
  /** 'same' when one of its addresses lies in one of our interfaces' subnets (or on loopback: this host). */
  segment: 'same' | 'other'
}

export interface PeerMemoryComponents {
  libp2p: Pick<Libp2p, 'peerId' | 'peerStore' | 'addEventListener' | 'removeEventListener'>
  repo: string
  /** Paces the writes. @default systemClock */
  clock?: Clock
}

export interface PeerMemoryOptions {
  /** Peers kept, the most recently connected. @default MAX_REMEMBERED_PEERS (64) */
  maxPeers?: number
  /** Wait before writing what was learnt. @default PEERS_SAVE_DELAY_MS (5 s) */
  saveDelayMs?: number
}

const bare = (a: Multiaddr | string): string => a.toString().replace(/\/p2p\/[^/]+$/, '')

/** Only plain IP addresses are remembered (no relays, no names): what a node can dial on a LAN with no resolver. */
function dialableAddr (a: string): boolean {
  try {
    const names = multiaddr(a).getComponents().map(c => c.name)
    return (names[0] === 'ip4' || names[0] === 'ip6') && !names.includes('p2p-circuit')
  } catch {
    return false
  }
}

/**
 * Remembers the peers this node was connected to, with their last good addresses, in `<repo>/peers.json`
 * (bounded: the MAX_REMEMBERED_PEERS most recent, none unseen for two weeks), and on start gives them back to the peer store, so the
 * redialer and dials by peer id find them after a restart. A missing, oversized or unreadable file is an empty
 * memory: it is this node's own cache, never a reason not to start.
 */
export class PeerMemory {
  private readonly peers = new Map<string, RememberedPeer>()
  private readonly clock: Clock
  private readonly maxPeers: number
  private timer: unknown
  private started = false

  constructor (private readonly components: PeerMemoryComponents, private readonly options: PeerMemoryOptions = {}) {
    this.clock = components.clock ?? systemClock
    this.maxPeers = options.maxPeers ?? MAX_REMEMBERED_PEERS
  }

  private get file (): string {
    return repoPath(this.components.repo, 'peers')
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    this.record(evt.detail.peerId, evt.detail.connection, evt.detail.listenAddrs)
  }

  /** Read peers.json and hand its addresses to the peer store; returns the peers remembered. */
  async start (): Promise<RememberedPeer[]> {
    for (const p of this.load()) this.peers.set(p.peerId, p)
    const self = this.components.libp2p.peerId.toString()
    this.peers.delete(self)
    for (const p of this.peers.values()) {
      await this.components.libp2p.peerStore.merge(peerIdFromString(p.peerId), { multiaddrs: p.addrs.map(a => multiaddr(a)) }).catch(() => {})
    }
    this.components.libp2p.addEventListener('peer:identify', this.onIdentify)
    this.started = true
    return this.list()
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    this.components.libp2p.removeEventListener('peer:identify', this.onIdentify)
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.save()
  }

  /** The peers remembered, the most recently connected first. */
  list (): RememberedPeer[] {
    return [...this.peers.values()].sort((a, b) => b.lastConnected - a.lastConnected)
  }

  /** A peer identified on `connection`: the address we dialled (outbound) first, then those it announced. */
  record (peer: PeerId, connection: Pick<Connection, 'direction' | 'remoteAddr'>, announced: Multiaddr[]): void {
    const id = peer.toString()
    if (id === this.components.libp2p.peerId.toString()) return
    const addrs = new Set<string>()
    if (connection.direction === 'outbound') addrs.add(bare(connection.remoteAddr))
    for (const a of announced) addrs.add(bare(a))
    const kept = [...addrs].filter(dialableAddr).slice(0, MAX_ADDRS)
    if (kept.length === 0) return
    const subnets = localSubnets()
    const remote = bare(connection.remoteAddr)
    // a peer on this host (loopback) is no other segment's link
    const segment = [...kept, remote].some(a => isLoopback(a) || onSegment(a, subnets)) ? 'same' : 'other'
    this.peers.delete(id)
    this.peers.set(id, { peerId: id, addrs: kept, lastConnected: Date.now(), segment })
    while (this.peers.size > this.maxPeers) {
      const oldest = this.list().at(-1)!
      this.peers.delete(oldest.peerId)
    }
    if (this.timer === undefined && this.started) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined
        this.save()
      }, this.options.saveDelayMs ?? PEERS_SAVE_DELAY_MS)
      ;(this.timer as { unref?: () => void } | undefined)?.unref?.()
    }
  }

  /** Write peers.json now. */
  save (): void {
    try {
      writeJsonFile(this.file, { peers: this.list() })
    } catch {} // a full or read-only disk costs the memory, not the node
  }

  private load (): RememberedPeer[] {
    try {
      if (statSync(this.file).size > MAX_PEERS_FILE_BYTES) return []
      const raw = JSON.parse(readFileSync(this.file, 'utf8')) as { peers?: unknown }
      if (!Array.isArray(raw?.peers)) return []
      const out: RememberedPeer[] = []
      for (const e of raw.peers.slice(0, this.maxPeers) as Array<Partial<RememberedPeer>>) {
        if (typeof e !== 'object' || e === null || typeof e.peerId !== 'string' || !Array.isArray(e.addrs) || typeof e.lastConnected !== 'number') continue
        if (Date.now() - e.lastConnected > MAX_REMEMBERED_AGE_MS) continue // gone for two weeks: it left
        try {
          peerIdFromString(e.peerId)
        } catch {
          continue
        }
        const addrs = e.addrs.filter((a): a is string => typeof a === 'string' && dialableAddr(a)).slice(0, MAX_ADDRS)
        if (addrs.length > 0) out.push({ peerId: e.peerId, addrs, lastConnected: e.lastConnected, segment: e.segment === 'same' ? 'same' : 'other' })
      }
      return out
    } catch {
      return []
    }
  }
}
