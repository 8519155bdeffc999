import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { parseBootstrap } from './bootstrap.js'
import { CHECK_INTERVAL_MS, DEFAULT_MIN_PEERS, DISCONNECT_SETTLE_MS, FIRST_BACKOFF_MS, MAX_BACKOFF_MS, PARALLEL_DIALS, REDIAL_TIMEOUT_MS } from './constants.js'

export interface RedialOptions {
  /** Keep at least this many connections while peers are known. @default 4 */
  minPeers?: number
  /** Check this often (ms). @default 5000 */
  intervalMs?: number
  /**
   * Peers to keep connected whatever the count (peer ids): the peers of other segments connected before, whose
   * link local neighbours cannot stand in for. Bootstrap entries are always kept. @default none
   */
  keep?: () => string[]
}

type RedialLibp2p = Pick<Libp2p, 'dial' | 'getPeers' | 'peerStore' | 'peerId' | 'addEventListener' | 'removeEventListener'>

/**
 * Keeps a node connected. libp2p redials nobody by itself: a node whose connections all drop (a neighbour
 * restarts, a link flaps, a CPU-starved peer misses pings) would stay alone, and its downloads and collections
 * would wait for someone else to dial it. When connections fall below `minPeers`, right after a disconnect and
 * every few seconds, this dials the bootstrap addresses and the peers in the peer store (learnt from mDNS, peer
 * exchange and earlier connections), most recently seen first, each with its own doubling backoff so an
 * unreachable peer costs one dial a minute at most. Bootstrap entries (addresses, or peer ids dialled at the
 * addresses known for them) and the `keep` peers are dialled whenever they are not connected, however many
 * local neighbours are: a segment's link to the others is not replaced by more neighbours of its own. Banned
 * peers are refused by the connection gater as always.
 */
export class Redialer {
  private readonly minPeers: number
  private readonly intervalMs: number
  private readonly bootstrap: Multiaddr[]
  /** Bootstrap peers given by id alone. */
  private readonly bootstrapIds: string[]
  /** Peer id or bootstrap address -> when it may be tried again, and the next wait. */
  private readonly backoff = new Map<string, { until: number, delay: number }>()
  private timer: ReturnType<typeof setInterval> | undefined
  private soon: ReturnType<typeof setTimeout> | undefined
  private running: Promise<number> | undefined
  private stopped = false
  /** Bootstrap address -> the peer it turned out to be (addresses given without /p2p/). */
  private readonly bootstrapPeer = new Map<string, string>()
  /** When we last had a connection to each peer: the most recently seen are dialled first. */
  private readonly seen = new Map<string, number>()

  constructor (private readonly libp2p: RedialLibp2p, bootstrap: string[] = [], private readonly options: RedialOptions = {}) {
    this.minPeers = options.minPeers ?? DEFAULT_MIN_PEERS
    this.intervalMs = options.intervalMs ?? CHECK_INTERVAL_MS
    const parsed = parseBootstrap(bootstrap)
    this.bootstrap = parsed.addrs.map(a => multiaddr(a))
    this.bootstrapIds = parsed.peers
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.seen.set(evt.detail.toString(), Date.now())
    if (this.stopped || this.soon !== undefined) return
    // a short delay: a peer that hung up and redials us at once is not dialled twice
    this.soon = setTimeout(() => {
      this.soon = undefined
      void this.check()
    }, DISCONNECT_SETTLE_MS)
    this.soon.unref()
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    this.seen.set(evt.detail.toString(), Date.now())
  }

  start (): void {
    this.libp2p.addEventListener('peer:connect', this.onConnect)
    this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    this.timer = setInterval(() => { void this.check() }, this.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    this.stopped = true
    this.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    clearInterval(this.timer)
    clearTimeout(this.soon)
  }

  /** Dial known peers if connections are below the minimum; resolves to the number of dials that succeeded. */
  async check (): Promise<number> {
    if (this.running !== undefined) return await this.running
    this.running = this.redial().finally(() => { this.running = undefined })
    return await this.running
  }

  private async redial (): Promise<number> {
    const connected = new Set(this.libp2p.getPeers().map(p => p.toString()))
    if (this.stopped) return 0
    const now = Date.now()
    const due = (key: string): boolean => (this.backoff.get(key)?.until ?? 0) <= now
    const targets: Array<{ key: string, dial: () => Promise<unknown> }> = []
    for (const addr of this.bootstrap) {
      const key = addr.toString()
      const id = addr.getComponents().find(c => c.name === 'p2p')?.value ?? this.bootstrapPeer.get(key)
      if (id !== undefined && connected.has(id)) continue
      if (due(key)) {
        targets.push({
          key,
          dial: async () => {
            const connection = await this.libp2p.dial(addr, { signal: AbortSignal.timeout(REDIAL_TIMEOUT_MS) })
            this.bootstrapPeer.set(key, connection.remotePeer.toString())
          }
        })
      }
    }
    const self = this.libp2p.peerId.toString()
    for (const id of new Set([...this.bootstrapIds, ...this.options.keep?.() ?? []])) {
      if (id === self || connected.has(id) || !due(id) || targets.some(t => t.key.endsWith(`/p2p/${id}`))) continue
      targets.push({ key: id, dial: async () => await this.libp2p.dial(peerIdFromString(id), { signal: AbortSignal.timeout(REDIAL_TIMEOUT_MS) }) })
    }
    // the bootstrap and kept peers, whatever the count
    let dialled = await this.dialAll(targets.splice(0), Infinity)
    const short = this.minPeers - this.libp2p.getPeers().length
    if (short <= 0 || this.stopped) return dialled
    const known = await this.libp2p.peerStore.all().catch(() => [])
    const seen = (id: PeerId): number => this.seen.get(id.toString()) ?? 0
    known.sort((a, b) => seen(b.id) - seen(a.id))
    for (const peer of known) {
      const key = peer.id.toString()
      if (peer.id.equals(this.libp2p.peerId) || connected.has(key) || peer.addresses.length === 0 || !due(key)) continue
      if (targets.some(t => t.key.endsWith(`/p2p/${key}`))) continue
      targets.push({ key, dial: async () => await this.libp2p.dial(peer.id, { signal: AbortSignal.timeout(REDIAL_TIMEOUT_MS) }) })
    }
    dialled += await this.dialAll(targets, short)
    return dialled
  }

  /** Dial `targets` a few at a time until `short` more peers are connected; returns the dials that succeeded. */
  private async dialAll (targets: Array<{ key: string, dial: () => Promise<unknown> }>, short: number): Promise<number> {
    let dialled = 0
    const wanted = this.libp2p.getPeers().length + short
    while (targets.length > 0 && short > 0 && !this.stopped) {
      const round = targets.splice(0, Math.min(PARALLEL_DIALS, short))
      const results = await Promise.allSettled(round.map(async t => await t.dial()))
      results.forEach((r, i) => {
        const key = round[i]!.key
        if (r.status === 'fulfilled') {
          this.backoff.delete(key)
          dialled++
        } else {
          const delay = this.backoff.get(key)?.delay ?? FIRST_BACKOFF_MS
          this.backoff.set(key, { until: Date.now() + delay, delay: Math.min(delay * 2, MAX_BACKOFF_MS) })
        }
      })
      short = wanted - this.libp2p.getPeers().length
    }
    return dialled
  }
}
