import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { Analytics } from '../analytics/analytics.js'
import type { Metrics } from '../analytics/counters.js'
import { recordFetch } from '../analytics/node-hooks.js'
import { cat, exportTo, type CatOptions, type ExportOptions } from '../dag/exporter.js'
import { importPath, type ImportOptions, type ImportResult } from '../dag/importer.js'
import type { TrustStore } from '../policy/trust/trust.js'
import type { Blockstore } from '../store/interface.js'
import type { FetchUrlOptions, UrlResponse } from '../sync/cache/url-cache-interface.js'
import type { UrlCache } from '../sync/cache/url-cache.js'
import type { Collections } from '../sync/collections/collections.js'
import type { BlockService, PeerFairness } from '../sync/exchange/block-service.js'
import type { HoldingsService } from '../sync/exchange/holdings-service.js'
import type { DeltaService } from '../sync/delta/index.js'
import type { FetchResult } from '../sync/fetch/fetcher.js'
import type { Gateway } from '../sync/http/gateway.js'
import type { AutoRelay, AutoRelayStatus } from '../sync/net/auto-relay.js'
import type { PeerExchange } from '../sync/net/peer-exchange.js'
import type { PeerMemory } from '../sync/net/peer-memory.js'
import type { Reachability } from '../sync/net/reachability.js'
import type { Redialer } from '../sync/net/redial.js'
import type { ReleaseExchange } from '../sync/releases/release-exchange.js'
import type { PublishOptions, PublishResult, Releases, UpdateOptions, UpdateResult } from '../sync/releases/releases.js'
import type { DownloadOptions, NodeDownloads } from './downloads.js'
import type { PeerInfo } from './options.js'
import type { PeerRanking } from './peers.js'
import type { PolicyWatch } from './policy-watch.js'
import type { BitswapService } from '../sync/bitswap/index.js'
import type { ContentRouting } from '../sync/routing/index.js'

/** The services a node is made of (see createNode, which builds and starts them in order). */
export interface NodeServices {
  store: Blockstore
  libp2p: Libp2p
  blocks: BlockService
  holdings?: HoldingsService
  /** Serves and asks block deltas (/cmesh/delta/1.0.0). */
  deltas: DeltaService
  pex?: PeerExchange
  bitswap?: BitswapService
  routing?: ContentRouting
  redialer: Redialer
  peerMemory: PeerMemory
  reachability: Reachability
  ranking: PeerRanking
  downloads: NodeDownloads
  trust: TrustStore
  releaseExchange: ReleaseExchange
  releases: Releases
  collections: Collections
  urlCache: UrlCache
  analytics: Analytics
  policyWatch: PolicyWatch
  gateway?: Gateway
}

/**
 * A CommunityMesh node: the LMDB store, a libp2p host (TCP, TLS or noise, yamux, identify, ping, mDNS), the block
 * exchange and the services above it. A thin facade: each method hands over to the service that does the work.
 * Its private key lives in the repository, so it is the same peer after a restart.
 */
export class CmeshNode {
  readonly store: Blockstore
  readonly libp2p: Libp2p
  readonly blocks: BlockService
  /** Holdings traded with the other downloaders of a file, when started with `trading`. */
  readonly holdings: HoldingsService | undefined
  /** When this node started (ms since the epoch). */
  readonly started = Date.now()
  readonly pex: PeerExchange | undefined
  /** Dials known peers again when connections drop below the minimum. */
  readonly redialer: Redialer
  /** The peers connected before, with their last good addresses (`<repo>/peers.json`). */
  readonly peerMemory: PeerMemory
  /** Bootstrap peers and peers of other segments unreachable for a minute (the daemon's warnings and /health). */
  readonly reachability: Reachability
  /** Signed releases: publish, trust, update. */
  readonly releases: Releases
  readonly trust: TrustStore
  /** The HTTP gateway, when started with `gateway`. */
  readonly gateway: Gateway | undefined
  /** Community collections: signed announcements over gossipsub, auto-sync, anti-entropy. */
  readonly collections: Collections
  /** The community cache: fetchUrl() and the URL protocol and gossip. */
  readonly urlCache: UrlCache
  /** Local counters, the privacy budget, releases of differentially private aggregates, community reports. */
  readonly analytics: Analytics
  private readonly services: NodeServices

  constructor (services: NodeServices) {
    this.services = services
    this.store = services.store
    this.libp2p = services.libp2p
    this.blocks = services.blocks
    this.holdings = services.holdings
    this.pex = services.pex
    this.redialer = services.redialer
    this.peerMemory = services.peerMemory
    this.reachability = services.reachability
    this.releases = services.releases
    this.trust = services.trust
    this.gateway = services.gateway
    this.collections = services.collections
    this.urlCache = services.urlCache
    this.analytics = services.analytics
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

  /**
   * What relay mode 'auto' decided: whether peers showed the node is behind NAT, and whether it holds a relay slot.
   * Undefined in the other relay modes.
   */
  nat (): AutoRelayStatus | undefined {
    return (this.libp2p.services as { autoRelay?: AutoRelay }).autoRelay?.status()
  }

  async add (path: string, options?: ImportOptions): Promise<ImportResult> {
    const r = await importPath(this.store, path, options)
    if (options?.pin !== false) void this.services.routing?.provide(r.cid)
    return r
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
  /** Fetch a DAG from the connected peers; `from`: the root of an older version held here (blocks come as deltas against it). */
  async fetch (cid: CID, options?: DownloadOptions): Promise<FetchResult> {
    return await this.services.downloads.fetch(cid, options)
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

  async dial (addr: string): Promise<void> {
    await this.libp2p.dial(multiaddr(addr))
  }

  /** Dial a peer by id alone, at the addresses known for it (remembered from earlier runs, mDNS, peer exchange). */
  async dialPeer (peerId: string): Promise<void> {
    await this.libp2p.dial(peerIdFromString(peerId))
  }

  /**
   * Connected peers ranked as they are asked for blocks: same segment first (an address in one of our
   * interfaces' subnets), then by measured round-trip time. Every peer is pinged, unless its last RTT is younger
   * than `maxRttAgeMs` (default 0); a ping gives up after `pingTimeoutMs` (default 2000). With `wait: false` the
   * answer does not wait for the pings (a download's ranking): peers not measured yet come after those measured.
   */
  async peers (options: { maxRttAgeMs?: number, pingTimeoutMs?: number, wait?: boolean } = {}): Promise<PeerInfo[]> {
    return await this.services.ranking.peers(options)
  }

  /** Per-peer ledger (bytes sent and received, ratio), choke state, weight and share: `cmesh stats`. */
  stats (): PeerFairness[] {
    return this.blocks.fairness()
  }

  /** Stop every service, the libp2p host and the store, in the reverse order they started. */
  async stop (): Promise<void> {
    const s = this.services
    s.policyWatch.stop()
    s.reachability.stop()
    s.redialer.stop()
    await s.analytics.stop()
    await s.gateway?.close()
    await s.collections.stop()
    await s.urlCache.stop()
    await s.releaseExchange.stop()
    await s.pex?.stop()
    s.routing?.stop()
    await s.bitswap?.stop()
    s.peerMemory.stop()
    s.ranking.stop()
    await s.holdings?.stop()
    await s.deltas.stop()
    await s.blocks.stop()
    await s.libp2p.stop()
    await s.store.close()
  }
}
