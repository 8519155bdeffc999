import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { CID } from 'multiformats/cid'
import { cat, exportTo, type CatOptions, type ExportOptions } from '../dag/exporter.js'
import { importPath, type ImportOptions, type ImportResult } from '../dag/importer.js'
import { createStore, resolveRepo } from '../store/index.js'
import type { Blockstore } from '../store/interface.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { announceable } from '../sync/net/addresses.js'
import { localSubnets, onSegment } from '../policy/fairness/segments.js'
import { BlockService } from '../sync/exchange/block-service.js'
import { PeerExchange } from '../sync/net/peer-exchange.js'
import { Redialer } from '../sync/net/redial.js'
import { fetchDag, type FetchOptions, type FetchResult } from '../sync/fetch/fetcher.js'
import { loadOrCreateIdentity } from '../sync/net/identity.js'
import { startGateway, type Gateway } from '../sync/http/gateway.js'
import { ReleaseExchange } from '../sync/releases/release-exchange.js'
import { Releases, type PublishOptions, type PublishResult, type UpdateOptions, type UpdateResult } from '../sync/releases/releases.js'
import { TrustStore } from '../policy/trust/trust.js'
import { thinBundle } from '../policy/trust/release-manifest.js'
import { ReleaseIndex } from '../store/release-index.js'
import { Collections, type CollectionsOptions } from '../sync/collections/collections.js'
import { pubsubService, type Pubsub } from '../sync/net/pubsub.js'
import { CID as Cid } from 'multiformats/cid'
import { Ledger } from '../policy/fairness/ledger.js'
import { policyStamp, readPolicy } from '../policy/fairness/policy-file.js'
import { POLICY_RELOAD_MS } from '../policy/fairness/constants.js'
import type { PeerFairness } from '../sync/exchange/block-service.js'
import type { Purpose } from '../policy/collections/governance.js'
import { UrlCache, type FetchUrlOptions, type UrlCacheOptions, type UrlResponse } from '../sync/cache/url-cache.js'
import { Analytics, type AnalyticsOptions } from '../analytics/analytics.js'
import type { Metrics } from '../analytics/counters.js'
import { COUNTERS } from '../analytics/constants.js'
import { analyticsLinks, countCacheEvent, countServed, recordFetch } from '../analytics/node-hooks.js'

/** Initial yamux window of a stream: a block-exchange answer (about 1 MiB) fits without waiting for window updates. */
const YAMUX_WINDOW = 2 * 1024 * 1024

/** A download ranks peers by RTTs up to a minute old, and waits at most 500 ms on a peer it has not measured. */
const RANKING_PINGS = { maxRttAgeMs: 60_000, pingTimeoutMs: 500 }

/**
 * libp2p pings every connection every 10 s and aborts it when a ping takes longer than 5 s (adaptive). A ping
 * stream queues behind megabytes of block data on a busy link, or waits on a CPU-starved peer: bench:propagation
 * (30 nodes on two cores) lost whole downloads that way. A dead peer is still found, only later.
 */
const CONNECTION_MONITOR = { pingInterval: 15_000, pingTimeout: { minTimeout: 30_000, maxTimeout: 60_000 } }

export interface NodeOptions {
  /** Repository directory. @default $CMESH_REPO, else ~/.cmesh */
  repo?: string
  /** Store capacity in bytes. @default unlimited */
  capacity?: number
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /** Peers to dial at start. @default [] */
  bootstrap?: string[]
  /** Find peers on the local segment with mDNS (off when listening on loopback only). @default true */
  mdns?: boolean
  /** Upload limit in bytes a second, over all peers. @default unlimited */
  uploadLimit?: number
  /** Ask peers which blocks they hold and fetch the rarest first (see BlockServiceOptions). @default false */
  rarestFirst?: boolean
  /** Send blocks compressed when that saves at least 10 % (see BlockServiceOptions). @default true */
  compress?: boolean
  /** The community cache (URL -> CID): owners, budget, gossip and prefetch timings, an event hook. */
  urlCache?: UrlCacheOptions
  /** Serve blocks over HTTP as an IPFS trustless gateway (`GET /ipfs/{cid}`) on this host and port. @default off */
  gateway?: { host?: string, port?: number }
  /** Community collections: anti-entropy and auto-sync timings (see CollectionsOptions). */
  collections?: CollectionsOptions
  /** Connections below which the node dials peers it knows (bootstrap, mDNS, peer exchange, earlier). @default 4 */
  minPeers?: number
  /**
   * Fail when none of the bootstrap addresses can be reached at start (a one-off command needs its peers). A
   * daemon sets it false: it starts anyway and keeps dialling them in the background. @default true
   */
  bootstrapRequired?: boolean
  /**
   * Fair upload scheduling (deficit round robin over address groups, share cap, unchoking, priorities from
   * `<repo>/policy.json`); false serves requests first come, first served. @default policy.json fairness.enabled, else true
   */
  fair?: boolean
  /** Local counters and differentially private releases (see AnalyticsOptions). @default the repo's policy.json */
  analytics?: AnalyticsOptions
}

export interface PeerInfo {
  peerId: string
  addrs: string[]
  /** 'same' when the peer's address lies in one of our interfaces' subnets (the local segment). */
  segment: 'same' | 'other'
  /** Round-trip time of the last ping, in ms. */
  rttMs?: number
  /** When we last had a connection open to it (ms since the epoch). */
  lastSeen: number
  /** When this node first connected to it (ms since the epoch). */
  firstConnected?: number
  blocksServed: number
  bytesReceived: number
  score: number
}

/**
 * A CommunityMesh node: the LMDB store, a libp2p host (TCP, TLS or noise, yamux, identify, ping, mDNS) and the
 * block exchange. Its private key lives in the repository, so it is the same peer after a restart.
 */
export class CmeshNode {
  readonly store: Blockstore
  readonly libp2p: Libp2p
  readonly blocks: BlockService
  /** When this node started (ms since the epoch). */
  readonly started = Date.now()
  private readonly firstConnected = new Map<string, number>()
  /** Last measured round-trip time to each peer, and when. */
  private readonly rtts = new Map<string, { ms: number, at: number }>()

  readonly pex: PeerExchange
  /** Dials known peers again when connections drop below the minimum. */
  readonly redialer: Redialer
  /** Signed releases: publish, trust, update. */
  readonly releases: Releases
  readonly trust: TrustStore
  private readonly releaseExchange: ReleaseExchange
  /** The HTTP gateway, when started with `gateway`. */
  gateway: Gateway | undefined
  /** Community collections: signed announcements over gossipsub, auto-sync, anti-entropy. */
  readonly collections: Collections
  /** The community cache: fetchUrl() and the URL protocol and gossip. */
  readonly urlCache: UrlCache

  /** Local counters, the privacy budget, releases of differentially private aggregates, community reports. */
  readonly analytics: Analytics

  constructor (store: Blockstore, libp2p: Libp2p, blocks: BlockService, pex: PeerExchange, collections: CollectionsOptions = {}, redialer: Redialer = new Redialer(libp2p), urlCache: UrlCacheOptions = {}, analytics?: Analytics) {
    this.analytics = analytics ?? new Analytics(store.repo, { enabled: false })
    this.store = store
    this.libp2p = libp2p
    this.blocks = blocks
    this.pex = pex
    this.redialer = redialer
    const index = new ReleaseIndex(store.repo)
    this.trust = new TrustStore(store.repo)
    this.releaseExchange = new ReleaseExchange(libp2p, (name, question) => {
      const bundle = index.bundle(name)
      if (bundle === undefined) return undefined
      return thinBundle(bundle, { blocks: question.blocks, held: question.have === null ? undefined : index.bundleOf(question.have.toString()) })
    })
    this.releases = new Releases({
      store,
      trust: this.trust,
      index,
      offers: async (name, question, signal) => await this.releaseExchange.offers(name, question, signal),
      bundleFrom: async (peer, name, question, signal) => await this.releaseExchange.ask(peerIdFromString(peer), name, question, signal),
      peerSources: async () => (await this.peers(RANKING_PINGS)).map(p => this.blocks.source(peerIdFromString(p.peerId), p.peerId)),
      watch: (add, remove) => this.watchPeers(add, remove)
    })
    this.collections = new Collections({
      repo: store.repo,
      libp2p,
      pubsub: (libp2p.services as { pubsub: Pubsub }).pubsub,
      store,
      add: async (path, options) => await this.add(path, options),
      fetch: async (root, options) => await this.fetch(root, options)
    }, collections)
    let key: ReturnType<typeof loadOrCreateIdentity> | undefined
    this.urlCache = new UrlCache({
      store,
      libp2p,
      pubsub: (libp2p.services as { pubsub: Pubsub }).pubsub,
      key: async () => await (key ??= loadOrCreateIdentity(store.repo)),
      source: peer => this.blocks.source(peerIdFromString(peer), peer),
      isProtected: cid => this.collections.holds(cid.toString())
    }, urlCache)
    this.urlCache.on(e => { countCacheEvent(this.metrics, e) })
    libp2p.addEventListener('peer:connect', evt => {
      const id = evt.detail.toString()
      if (!this.firstConnected.has(id)) this.firstConnected.set(id, Date.now())
    })
  }

  /** Counters other components add to: `node.metrics.count('cache.hits')` (see analytics/constants.ts). */
  get metrics (): Metrics {
    return this.analytics.metrics
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  addrs (): string[] {
    return this.libp2p.getMultiaddrs().map(a => a.toString())
  }

  async add (path: string, options?: ImportOptions): Promise<ImportResult> {
    return await importPath(this.store, path, options)
  }

  cat (cid: CID, options?: CatOptions): AsyncGenerator<Uint8Array> {
    return cat(this.store, cid, options)
  }

  async get (cid: CID, target: string, options?: ExportOptions): Promise<void> {
    await exportTo(this.store, cid, target, options)
  }

  /**
   * Fetch a DAG from the connected peers (only the blocks this node lacks), verifying every block. Peers are
   * asked in rank order (see peers()); measured speed then decides who gets more.
   */
  async fetch (cid: CID, options?: FetchOptions): Promise<FetchResult> {
    const ranked = await this.peers(RANKING_PINGS)
    const sources = ranked.map(p => this.blocks.source(peerIdFromString(p.peerId), p.peerId))
    const result = await fetchDag(this.store, cid, sources, { ...options, watch: options?.watch ?? ((add, remove) => this.watchPeers(add, remove)) })
      .catch((err: unknown) => { recordFetch(this.metrics, cid.toString(), undefined); throw err })
    recordFetch(this.metrics, cid.toString(), result.sources)
    return result
  }

  /** Peers that connect during a download join it; peers that leave are dropped from it. */
  private watchPeers (add: Parameters<NonNullable<FetchOptions['watch']>>[0], remove: (id: string) => void): () => void {
    const joined = (evt: CustomEvent<PeerId>): void => { add(this.blocks.source(evt.detail, evt.detail.toString())) }
    const left = (evt: CustomEvent<PeerId>): void => { remove(evt.detail.toString()) }
    this.libp2p.addEventListener('peer:connect', joined)
    this.libp2p.addEventListener('peer:disconnect', left)
    return () => {
      this.libp2p.removeEventListener('peer:connect', joined)
      this.libp2p.removeEventListener('peer:disconnect', left)
    }
  }

  /** Import `path` and publish it as a signed release (see Releases.publish). */
  async publish (path: string, options: PublishOptions): Promise<PublishResult> {
    return await this.releases.publish(path, options)
  }

  /**
   * Fetch a URL through the community cache: from this node's store when fresh, else from a member that holds
   * it or from its owner (one download for the whole community), else from the origin (see UrlCache).
   */
  async fetchUrl (url: string, options?: FetchUrlOptions): Promise<UrlResponse> {
    return await this.urlCache.fetchUrl(url, options)
  }

  /** Install the newest trusted release of `name` offered by peers or given, fetching only what changed. */
  async update (name: string, options?: UpdateOptions): Promise<UpdateResult> {
    const result = await this.releases.update(name, options).catch((err: unknown) => { recordFetch(this.metrics, undefined, undefined); throw err })
    if (!result.upToDate) recordFetch(this.metrics, result.root, result.sources)
    return result
  }

  async start (gateway?: NodeOptions['gateway']): Promise<void> {
    await this.releaseExchange.start()
    await this.releases.start()
    await this.collections.start()
    await this.urlCache.start()
    this.redialer.start()
    this.analytics.start(analyticsLinks(this))
    if (gateway !== undefined) this.gateway = await startGateway({ store: countServed(this.store, this.metrics, [COUNTERS.bytesServed, COUNTERS.bytesServedGateway]) }, gateway)
  }

  async dial (addr: string): Promise<void> {
    await this.libp2p.dial(multiaddr(addr))
  }

  /**
   * Connected peers ranked as they are asked for blocks: same segment first (an address in one of our
   * interfaces' subnets), then by measured round-trip time. Every peer is pinged, unless its last RTT is younger
   * than `maxRttAgeMs` (default 0); a ping gives up after `pingTimeoutMs` (default 2000).
   */
  async peers (options: { maxRttAgeMs?: number, pingTimeoutMs?: number } = {}): Promise<PeerInfo[]> {
    const subnets = localSubnets()
    const ping = (this.libp2p.services as { ping: { ping: (p: PeerId, o?: { signal?: AbortSignal }) => Promise<number> } }).ping
    const out = await Promise.all(this.libp2p.getPeers().map(async (peer): Promise<PeerInfo> => {
      const addrs = this.libp2p.getConnections(peer).map(c => c.remoteAddr.toString())
      const known = this.rtts.get(peer.toString())
      let rttMs = known?.ms
      if (known === undefined || Date.now() - known.at > (options.maxRttAgeMs ?? 0)) {
        try {
          rttMs = await ping.ping(peer, { signal: AbortSignal.timeout(options.pingTimeoutMs ?? 2000) })
          this.rtts.set(peer.toString(), { ms: rttMs, at: Date.now() })
        } catch {}
      }
      const segment = addrs.some(a => onSegment(a, subnets)) ? 'same' : 'other'
      return { peerId: peer.toString(), addrs, segment, rttMs, lastSeen: Date.now(), firstConnected: this.firstConnected.get(peer.toString()), ...this.blocks.peer(peer.toString()) }
    }))
    return out.sort((a, b) => (a.segment === b.segment ? 0 : a.segment === 'same' ? -1 : 1) || (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity))
  }

  /** Per-peer ledger (bytes sent and received, ratio), choke state, weight and share: `cmesh stats`. */
  stats (): PeerFairness[] {
    return this.blocks.fairness()
  }

  /** Blocks of collection resources of these purposes (priority classes with `purposes`). */
  purposeRoots (purposes: Purpose[]): Cid[] {
    const out: Cid[] = []
    for (const c of this.collections.list()) {
      for (const e of this.collections.browse(c.name)) if (purposes.includes(e.purpose)) out.push(Cid.parse(e.root))
    }
    return out
  }

  /** Reload policy.json when it changes, and walk the priority classes' DAGs again. */
  private policyTimer: ReturnType<typeof setInterval> | undefined
  watchPolicy (): void {
    let stamp = policyStamp(this.store.repo)
    this.policyTimer = setInterval(() => {
      const now = policyStamp(this.store.repo)
      if (now !== stamp) {
        stamp = now
        try {
          this.blocks.setPolicy(readPolicy(this.store.repo))
        } catch {} // a bad edit keeps the policy in force; `cmesh stats` reports the file's error
      } else {
        this.blocks.priorities.refresh()
      }
    }, POLICY_RELOAD_MS)
    this.policyTimer.unref()
  }

  async stop (): Promise<void> {
    if (this.policyTimer !== undefined) clearInterval(this.policyTimer)
    this.redialer.stop()
    await this.analytics.stop()
    await this.gateway?.close()
    await this.collections.stop()
    await this.urlCache.stop()
    await this.releaseExchange.stop()
    await this.pex.stop()
    await this.blocks.stop()
    await this.libp2p.stop()
    await this.store.close()
  }
}

/** Attempts at a bootstrap address: a busy node refuses more than a few new connections a second from one host. */
const BOOTSTRAP_ATTEMPTS = 5

async function dialWithRetry (node: CmeshNode, addr: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await node.dial(addr)
      return
    } catch (err) {
      if (attempt >= BOOTSTRAP_ATTEMPTS) throw err
      await new Promise(resolve => setTimeout(resolve, 250 * attempt))
    }
  }
}

/** Start a node on a repository. */
export async function createNode (init: NodeOptions = {}): Promise<CmeshNode> {
  const repo = resolveRepo(init.repo)
  const store = createStore({ repo, capacity: init.capacity })
  let analytics: Analytics | undefined
  try {
    const privateKey = await loadOrCreateIdentity(repo)
    const listen = init.listen ?? ['/ip4/0.0.0.0/tcp/0']
    // a node listening on loopback alone cannot be reached by neighbours: it does not take part in mDNS;
    // one that does never announces its loopback addresses
    const useMdns = (init.mdns ?? true) && announceable(listen).length > 0
    // a peer caught sending bad blocks is not let back in, nor dialed again (peer exchange, mDNS)
    const banned = new Set<string>()
    const libp2p = await createLibp2p({
      privateKey,
      connectionGater: {
        denyDialPeer: peer => banned.has(peer.toString()),
        denyInboundEncryptedConnection: peer => banned.has(peer.toString())
      },
      addresses: useMdns ? { listen, announceFilter: addrs => announceable(addrs) } : { listen },
      transports: [tcp()],
      connectionEncrypters: [tls(), noise()],
      streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: YAMUX_WINDOW, maxStreamWindowSize: 4 * YAMUX_WINDOW } })],
      peerDiscovery: useMdns ? [mdns()] : [],
      connectionMonitor: CONNECTION_MONITOR,
      services: { identify: identify(), ping: ping(), pubsub: pubsubService() }
    })
    analytics = new Analytics(repo, init.analytics)
    const policy = readPolicy(repo)
    let nodeRef: CmeshNode | undefined
    const blocks = new BlockService({ libp2p, store: countServed(store, analytics.metrics) }, {
      uploadLimit: init.uploadLimit,
      rarestFirst: init.rarestFirst,
      compress: init.compress,
      banned,
      policy,
      fair: init.fair,
      ledger: new Ledger(repo),
      purposeRoots: purposes => nodeRef?.purposeRoots(purposes) ?? []
    })
    await blocks.start()
    const pex = new PeerExchange(libp2p)
    await pex.start()
    libp2p.addEventListener('peer:discovery', evt => {
      void libp2p.dial(evt.detail.id).catch(() => {})
    })
    const node = new CmeshNode(store, libp2p, blocks, pex, init.collections, new Redialer(libp2p, init.bootstrap, { minPeers: init.minPeers }), init.urlCache, analytics)
    nodeRef = node
    node.watchPolicy()
    await node.start(init.gateway)
    const bootstrap = init.bootstrap ?? []
    const dials = await Promise.allSettled(bootstrap.map(async addr => await dialWithRetry(node, addr)))
    const failed = dials.find(d => d.status === 'rejected')
    if (failed !== undefined && dials.every(d => d.status === 'rejected') && (init.bootstrapRequired ?? true)) {
      await node.stop().catch(() => {})
      throw failed.reason
    }
    return node
  } catch (err) {
    await analytics?.stop().catch(() => {})
    await store.close()
    throw err
  }
}
