import type { Libp2p } from '@libp2p/interface'
import { Analytics } from '../analytics/analytics.js'
import { COUNTERS } from '../analytics/constants.js'
import { analyticsLinks, countCacheEvent, countServed } from '../analytics/node-hooks.js'
import { Ledger } from '../policy/fairness/ledger.js'
import { readPolicy } from '../policy/fairness/policy-file.js'
import { TrustStore } from '../policy/trust/trust.js'
import { readRepoConfig, rememberPort, resolveRepo } from '../repo/index.js'
import { createStore } from '../store/index.js'
import { ReleaseIndex } from '../store/release-index.js'
import { UrlCache } from '../sync/cache/url-cache.js'
import { Collections } from '../sync/collections/collections.js'
import { BitswapService, BITSWAP_UPLOAD_GROUP } from '../sync/bitswap/index.js'
import { DeltaService } from '../sync/delta/index.js'
import { BlockService } from '../sync/exchange/block-service.js'
import { HoldingsService } from '../sync/exchange/holdings-service.js'
import { startGateway } from '../sync/http/gateway.js'
import { parseBootstrap, type Bootstrap } from '../sync/net/bootstrap.js'
import { loadOrCreateIdentity } from '../sync/net/identity.js'
import { PeerExchange } from '../sync/net/peer-exchange.js'
import { ContentRouting } from '../sync/routing/index.js'
import { PeerMemory } from '../sync/net/peer-memory.js'
import { Reachability } from '../sync/net/reachability.js'
import type { Pubsub } from '../sync/net/pubsub.js'
import { Redialer } from '../sync/net/redial.js'
import { ReleaseExchange } from '../sync/releases/release-exchange.js'
import { Releases } from '../sync/releases/releases.js'
import { BOOTSTRAP_ATTEMPTS, BOOTSTRAP_BACKOFF_MS, DEFAULT_PORT } from './constants.js'
import { NodeDownloads } from './downloads.js'
import { createHost, type HostInit } from './host.js'
import { CmeshNode } from './node.js'
import type { NodeOptions } from './options.js'
import { PeerRanking } from './peers.js'
import { PolicyWatch } from './policy-watch.js'

/** Something createNode started and stops again if a later step fails. */
interface Started { stop: () => unknown }

/**
 * Start a node on a repository: the composition root. Every service is built as `new Service(components, init)`
 * from the parts below it and started in order (store, host, block exchange, peer exchange, ranking and
 * downloads, releases, collections, the URL cache, analytics, the gateway); then the bootstrap peers are dialled.
 * A step that fails stops what had started.
 */
export async function createNode (init: NodeOptions = {}): Promise<CmeshNode> {
  const repo = resolveRepo(init.repo)
  const bootstrap = parseBootstrap(init.bootstrap) // a malformed entry fails before anything starts
  // mapped whole: a node serves blocks, and a read of pages read before then costs no map, unmap or fault
  const store = createStore({ repo, capacity: init.capacity, mapping: 'whole' })
  const started: Started[] = [{ stop: async () => await store.close() }]
  const unwind = async (): Promise<void> => {
    for (const s of started.reverse()) await Promise.resolve(s.stop()).catch(() => {})
  }
  try {
    const privateKey = await loadOrCreateIdentity(repo)
    // a peer caught sending bad blocks is not let back in, nor dialled again (peer exchange, mDNS)
    const banned = new Set<string>()
    const libp2p = await listenHost(repo, init, { privateKey, mdns: init.mdns, banned, dht: init.dht, relay: init.relay, upnp: init.upnp })
    started.push({ stop: async () => await libp2p.stop() })
    // the peers of earlier runs, with their last good addresses, back in the peer store before anything dials
    const peerMemory = new PeerMemory({ libp2p, repo, clock: init.clock })
    await peerMemory.start()
    started.push(peerMemory)
    const pubsub = (libp2p.services as { pubsub: Pubsub }).pubsub

    const analytics = new Analytics(repo, init.analytics)
    started.push({ stop: async () => await analytics.stop() })
    const metrics = analytics.metrics

    // who holds what of the files being fetched, traded with the other downloaders; with superSeed, a file this
    // node holds whole is super-seeded to them
    const holdings = init.trading === true
      ? new HoldingsService({ libp2p, store }, { clock: init.clock, allowRelayedTransfers: init.allowRelayedTransfers, superSeed: init.superSeed })
      : undefined
    const blocks = new BlockService({ libp2p, store: countServed(store, metrics) }, {
      uploadLimit: init.uploadLimit,
      rarestFirst: init.rarestFirst,
      compress: init.compress,
      banned,
      policy: readPolicy(repo),
      fair: init.fair,
      ledger: new Ledger(repo),
      allowRelayedTransfers: init.allowRelayedTransfers,
      superSeeder: holdings?.superSeeder
    })
    await blocks.start()
    started.push({ stop: async () => await blocks.stop() })
    if (holdings !== undefined) {
      await holdings.start()
      started.push({ stop: async () => await holdings.stop() })
    }

    // IPFS peers: served under the upload scheduler as one upload group, and a source for downloads
    const bitswap = init.bitswap === false
      ? undefined
      : new BitswapService({
        libp2p,
        store,
        charge: async (bytes, signal) => await blocks.chargeUpload(BITSWAP_UPLOAD_GROUP, BITSWAP_UPLOAD_GROUP, bytes, signal)
      }, { allowRelayedTransfers: init.allowRelayedTransfers })
    if (bitswap !== undefined) {
      await bitswap.start()
      started.push({ stop: async () => await bitswap.stop() })
    }

    // deltas of blocks for peers updating from an older version, under the same upload scheduler as blocks
    const deltas = new DeltaService({
      libp2p,
      store,
      charge: async (peer, group, bytes, signal) => await blocks.chargeUpload(peer, group, bytes, signal)
    }, { serve: init.serveDeltas })
    await deltas.start()
    started.push({ stop: async () => await deltas.stop() })

    const pex = init.peerExchange === false ? undefined : new PeerExchange(libp2p)
    if (pex !== undefined) {
      await pex.start()
      started.push({ stop: async () => await pex.stop() })
    }
    const routing = init.dht === undefined || init.dht === 'off' ? undefined : new ContentRouting({ libp2p, store }, { provideFiles: init.dhtProvide === 'files' })
    if (routing !== undefined) {
      routing.start()
      started.push(routing)
    }
    libp2p.addEventListener('peer:discovery', evt => {
      void libp2p.dial(evt.detail.id).catch(() => {})
    })

    const ranking = new PeerRanking({ libp2p, blocks, bitswap }, { allowRelayedTransfers: init.allowRelayedTransfers })
    ranking.start()
    started.push(ranking)
    const downloads = new NodeDownloads({ store, peers: ranking, metrics, routing, holdings, deltas })

    const trust = new TrustStore(repo)
    const index = new ReleaseIndex(repo)
    const releaseExchange = new ReleaseExchange({ libp2p, index })
    const releases = new Releases({ store, trust, index, bundles: releaseExchange, peers: ranking, deltas })
    const collections = new Collections({ repo, libp2p, pubsub, store, downloads }, init.collections)
    // the upload priorities of collection purposes follow the collections, which download through the blocks
    blocks.priorities.follow(collections)
    const urlCache = new UrlCache({ store, libp2p, pubsub, privateKey, blocks, collections }, init.urlCache)
    urlCache.on(e => { countCacheEvent(metrics, e) })
    // a peer of another segment connected before is dialled again however many local neighbours there are
    const otherSegment = (): string[] => peerMemory.list().filter(p => p.segment === 'other').map(p => p.peerId)
    const redialer = new Redialer(libp2p, init.bootstrap, { minPeers: init.minPeers, keep: otherSegment })
    const reachability = new Reachability({ libp2p, clock: init.clock }, {
      bootstrap,
      remembered: () => peerMemory.list(),
      onWarning: init.onWarning,
      ...init.reachability
    })
    const policyWatch = new PolicyWatch({ repo, blocks })
    policyWatch.start()
    started.push(policyWatch)

    await releaseExchange.start()
    started.push({ stop: async () => await releaseExchange.stop() })
    await releases.start()
    await collections.start()
    started.push({ stop: async () => await collections.stop() })
    await urlCache.start()
    started.push({ stop: async () => await urlCache.stop() })
    redialer.start()
    started.push(redialer)
    reachability.start()
    started.push(reachability)
    analytics.start(analyticsLinks({ libp2p, collections }))
    const gateway = init.gateway === undefined
      ? undefined
      : await startGateway({ store: countServed(store, metrics, [COUNTERS.bytesServed, COUNTERS.bytesServedGateway]) }, init.gateway)

    const node = new CmeshNode({
      store,
      libp2p,
      blocks,
      holdings,
      deltas,
      pex,
      bitswap,
      routing,
      redialer,
      peerMemory,
      reachability,
      ranking,
      downloads,
      trust,
      releaseExchange,
      releases,
      collections,
      urlCache,
      analytics,
      policyWatch,
      gateway
    })
    started.length = 0
    started.push({ stop: async () => await node.stop() })
    await dialBootstrap(node, init, bootstrap)
    // the roots held from earlier runs, newest first and bounded, once the node has its peers
    if (routing !== undefined) void routing.provideAll(store.pins())
    return node
  } catch (err) {
    await unwind()
    throw err
  }
}

/**
 * Dial the bootstrap addresses, each a few times with growing pauses (a busy node refuses more than a few new
 * connections a second from one host). Fails when every one fails and the caller needs them. With `bootstrapWait`
 * 'first' it returns once one has connected, the others still dialling.
 */
async function dialBootstrap (node: CmeshNode, init: NodeOptions, bootstrap: Bootstrap): Promise<void> {
  const entries = [...bootstrap.addrs.map(a => async () => await node.dial(a)), ...bootstrap.peers.map(id => async () => await node.dialPeer(id))]
  const dials = entries.map(async dial => {
    for (let attempt = 1; ; attempt++) {
      try {
        await dial()
        return
      } catch (err) {
        // a node stopped meanwhile (bootstrapWait 'first' returned before this dial ended) tries no more
        if (attempt >= BOOTSTRAP_ATTEMPTS || node.libp2p.status !== 'started') throw err
        await new Promise(resolve => setTimeout(resolve, BOOTSTRAP_BACKOFF_MS * attempt))
      }
    }
  })
  const settled = Promise.allSettled(dials).then(results => {
    const failed = results.find(d => d.status === 'rejected')
    if (failed !== undefined && results.every(d => d.status === 'rejected') && (init.bootstrapRequired ?? true)) throw failed.reason
  })
  if (init.bootstrapWait !== 'first' || dials.length === 0) return await settled
  // one connected: the rest go on (a dial that fails later is the same as one that failed before it returned)
  await Promise.any(dials).then(() => { settled.catch(() => {}) }, async () => await settled)
}

/** A busy port, as libp2p reports it (the listen error carries the system's EADDRINUSE in its message). */
const portInUse = (err: unknown): boolean => /EADDRINUSE/.test(String((err as Error)?.message))

/**
 * The libp2p host on the addresses asked for; with `fixedPort` and none asked for, on the repository's port
 * (remembered in config.json on the first start), or on a random port with a warning when that one is busy.
 */
async function listenHost (repo: string, init: NodeOptions, host: Omit<HostInit, 'listen'>): Promise<Libp2p> {
  if (init.listen !== undefined || init.fixedPort !== true) return await createHost({ ...host, listen: init.listen })
  const configured = readRepoConfig(repo).port
  const port = configured ?? DEFAULT_PORT
  let libp2p: Libp2p
  try {
    libp2p = await createHost({ ...host, listen: [`/ip4/0.0.0.0/tcp/${port}`] })
  } catch (err) {
    if (!portInUse(err)) throw err
    libp2p = await createHost({ ...host, listen: ['/ip4/0.0.0.0/tcp/0'] })
    const now = libp2p.getMultiaddrs()[0]?.toString().split('/')[4]
    init.onWarning?.(`port ${port} is in use: listening on port ${now ?? '?'} for now; peers that know this node at ${port} find it again by mDNS or when it dials them`)
    return libp2p
  }
  if (configured === undefined) rememberPort(repo, port)
  return libp2p
}
