import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { localSubnets, onSegment } from '../policy/fairness/segments.js'
import { BITSWAP_PROTOCOLS, bitswapSource, type BitswapService } from '../sync/bitswap/index.js'
import type { BlockService } from '../sync/exchange/block-service.js'
import { BLOCKS_PROTOCOLS } from '../sync/exchange/constants.js'
import type { BlockSource, FetchOptions, PeerSources } from '../sync/fetch/fetch-interface.js'
import { PING_TIMEOUT_MS, RANKING_PINGS } from './constants.js'
import type { PeerInfo, PeerReach } from './options.js'

type Ping = { ping: (p: PeerId, o?: { signal?: AbortSignal }) => Promise<number> }

export interface PeerRankingComponents {
  libp2p: Pick<Libp2p, 'getPeers' | 'getConnections' | 'peerStore' | 'services' | 'addEventListener' | 'removeEventListener'>
  blocks: Pick<BlockService, 'source' | 'peer'>
  /** Where a peer that speaks bitswap and not the cmesh block protocol (an IPFS node) is fetched from. */
  bitswap?: Pick<BitswapService, 'want'>
}

export interface PeerRankingInit {
  /** Peers reached only through a relay are block sources too (NodeOptions.allowRelayedTransfers). @default false */
  allowRelayedTransfers?: boolean
}

/** A limited connection: through a circuit relay, cut after its duration or data cap. */
const limited = (c: Connection): boolean => c.limits != null || c.remoteAddr.toString().includes('/p2p-circuit')

/**
 * How a peer is reached over its open connections: 'relayed' when every one is limited (a circuit relay),
 * 'hole-punched' when a direct one followed a relayed one (`hadRelayed`, DCUtR's upgrade), else 'direct'.
 */
export function peerReach (conns: Connection[], hadRelayed: boolean): PeerReach {
  if (conns.length > 0 && conns.every(limited)) return 'relayed'
  return hadRelayed || conns.some(limited) ? 'hole-punched' : 'direct'
}

/**
 * Addresses a peer can be dialled at: those it announced (identify, in the peer store) and those we dialled it
 * at. The remote address of an inbound connection is left out: its port is the peer's ephemeral one.
 */
async function dialable (libp2p: Pick<Libp2p, 'peerStore'>, peer: PeerId, conns: Connection[]): Promise<string[]> {
  const out = new Set(conns.filter(c => c.direction === 'outbound').map(c => c.remoteAddr.toString()))
  try {
    for (const a of (await libp2p.peerStore.get(peer)).addresses) out.add(a.multiaddr.toString())
  } catch {} // not in the peer store yet: identify has not answered
  return [...out]
}

/**
 * The connected peers, ranked as a download asks them for blocks: same segment first (an address in one of our
 * interfaces' subnets), then by measured round-trip time. Downloads draw on it for their sources, and on its
 * `watch` for peers joining and leaving.
 */
export class PeerRanking implements PeerSources {
  private readonly firstConnected = new Map<string, number>()
  /** Last measured round-trip time to each peer, and when. */
  private readonly rtts = new Map<string, { ms: number, at: number }>()
  /** Connected peers that had a relayed (limited) connection: a direct one after it was hole-punched. */
  private readonly relayedBefore = new Set<string>()
  /** Pings under way, by peer. */
  private readonly pinging = new Map<string, Promise<number | undefined>>()
  private readonly relayed: boolean

  constructor (private readonly components: PeerRankingComponents, init: PeerRankingInit = {}) {
    this.relayed = init.allowRelayedTransfers ?? false
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    if (!this.firstConnected.has(id)) this.firstConnected.set(id, Date.now())
  }

  private readonly onConnection = (evt: CustomEvent<Connection>): void => {
    if (limited(evt.detail)) this.relayedBefore.add(evt.detail.remotePeer.toString())
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.relayedBefore.delete(evt.detail.toString())
  }

  start (): void {
    this.components.libp2p.addEventListener('peer:connect', this.onConnect)
    this.components.libp2p.addEventListener('connection:open', this.onConnection)
    this.components.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
  }

  stop (): void {
    this.components.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.components.libp2p.removeEventListener('connection:open', this.onConnection)
    this.components.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  /** Whether blocks may be asked of a peer over these connections: a direct one, or relayed ones when allowed. */
  private usable (conns: Connection[]): boolean {
    return this.relayed || conns.some(c => !limited(c))
  }

  /**
   * Every connected peer, ranked. Each is pinged unless its last RTT is younger than `maxRttAgeMs` (default 0);
   * a ping gives up after `pingTimeoutMs` (default 2000). With `wait: false` the pings run on behind the answer,
   * which ranks by the RTTs known (a peer not measured yet after those measured, within its segment).
   */
  async peers (options: { maxRttAgeMs?: number, pingTimeoutMs?: number, wait?: boolean } = {}): Promise<PeerInfo[]> {
    const { libp2p, blocks } = this.components
    const subnets = localSubnets()
    const ping = (libp2p.services as { ping: Ping }).ping
    const out = await Promise.all(libp2p.getPeers().map(async (peer): Promise<PeerInfo> => {
      const id = peer.toString()
      const conns = libp2p.getConnections(peer)
      const addrs = await dialable(libp2p, peer, conns)
      const known = this.rtts.get(id)
      let rttMs = known?.ms
      const reach = peerReach(conns, this.relayedBefore.has(id))
      // a ping of a peer reached through a relay alone would dial it anew (libp2p opens no stream there by itself)
      if (reach !== 'relayed' && (known === undefined || Date.now() - known.at > (options.maxRttAgeMs ?? 0))) {
        const measured = this.measure(ping, peer, options.pingTimeoutMs ?? PING_TIMEOUT_MS)
        if (options.wait !== false) rttMs = await measured ?? rttMs
      }
      const segment = [...addrs, ...conns.map(c => c.remoteAddr.toString())].some(a => onSegment(a, subnets)) ? 'same' : 'other'
      return { peerId: id, addrs, segment, reach, rttMs, lastSeen: Date.now(), firstConnected: this.firstConnected.get(id), ...blocks.peer(id) }
    }))
    return out.sort((a, b) => (a.segment === b.segment ? 0 : a.segment === 'same' ? -1 : 1) || (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity))
  }

  /**
   * A peer's RTT, pinged and remembered; undefined when the ping fails or takes over `timeoutMs`. A ping of the
   * peer already under way is waited for (up to `timeoutMs`) instead of sending another.
   */
  private async measure (ping: Ping, peer: PeerId, timeoutMs: number): Promise<number | undefined> {
    const id = peer.toString()
    const pending = this.pinging.get(id)
    if (pending !== undefined) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<undefined>(resolve => { timer = setTimeout(() => resolve(undefined), timeoutMs).unref() })
      try {
        return await Promise.race([pending, late])
      } finally {
        clearTimeout(timer)
      }
    }
    const measured = ping.ping(peer, { signal: AbortSignal.timeout(timeoutMs) }).then(ms => {
      this.rtts.set(id, { ms, at: Date.now() })
      return ms
    }, () => undefined).finally(() => this.pinging.delete(id))
    this.pinging.set(id, measured)
    return await measured
  }

  /**
   * A block source for each connected peer, in rank order by the RTTs known (up to a minute old): a download
   * does not wait for pings, it asks its peers at once and their speed decides who gets more; peers not measured
   * are pinged behind it for the next ranking. A peer reached only through a relay is left out unless relayed
   * transfers are allowed.
   */
  async sources (): Promise<BlockSource[]> {
    const ranked = (await this.peers({ ...RANKING_PINGS, wait: false })).filter(p => this.relayed || p.reach !== 'relayed')
    return await Promise.all(ranked.map(async p => await this.sourceOf(peerIdFromString(p.peerId))))
  }

  /**
   * The block source of a connected peer: the cmesh block protocol, unless identify said the peer speaks bitswap
   * and not ours (an IPFS node), when it is asked over bitswap. A peer not identified yet is asked as a cmesh peer.
   */
  private async sourceOf (peer: PeerId): Promise<BlockSource> {
    const { libp2p, blocks, bitswap } = this.components
    const id = peer.toString()
    if (bitswap === undefined) return blocks.source(peer, id)
    const protocols = await libp2p.peerStore.get(peer).then(p => p.protocols, () => [])
    const ipfsOnly = !protocols.some(p => BLOCKS_PROTOCOLS.includes(p)) && protocols.some(p => BITSWAP_PROTOCOLS.includes(p))
    return ipfsOnly ? bitswapSource(bitswap, id) : blocks.source(peer, id)
  }

  /**
   * Peers that connect during a download join it (one reached only through a relay once it has a direct
   * connection, unless relayed transfers are allowed); peers that leave are dropped from it.
   */
  readonly watch: NonNullable<FetchOptions['watch']> = (add, remove) => {
    const { libp2p, blocks } = this.components
    const joined = (evt: CustomEvent<Connection>): void => {
      const peer = evt.detail.remotePeer
      if (this.usable([evt.detail])) add(blocks.source(peer, peer.toString()))
    }
    const left = (evt: CustomEvent<PeerId>): void => { remove(evt.detail.toString()) }
    libp2p.addEventListener('connection:open', joined)
    libp2p.addEventListener('peer:disconnect', left)
    return () => {
      libp2p.removeEventListener('connection:open', joined)
      libp2p.removeEventListener('peer:disconnect', left)
    }
  }
}
