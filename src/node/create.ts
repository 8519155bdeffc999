import { Analytics } from '../analytics/analytics.js'
import { COUNTERS } from '../analytics/constants.js'
import { analyticsLinks, countCacheEvent, countServed } from '../analytics/node-hooks.js'
import { Ledger } from '../policy/fairness/ledger.js'
import { readPolicy } from '../policy/fairness/policy-file.js'
import { TrustStore } from '../policy/trust/trust.js'
import { resolveRepo } from '../repo/index.js'
import { createStore } from '../store/index.js'
import { ReleaseIndex } from '../store/release-index.js'
import { UrlCache } from '../sync/cache/url-cache.js'
import { Collections } from '../sync/collections/collections.js'
import { BitswapService, BITSWAP_UPLOAD_GROUP } from '../sync/bitswap/index.js'
import { BlockService } from '../sync/exchange/block-service.js'
import { startGateway } from '../sync/http/gateway.js'
import { loadOrCreateIdentity } from '../sync/net/identity.js'
import { PeerExchange } from '../sync/net/peer-exchange.js'
import type { Pubsub } from '../sync/net/pubsub.js'
import { Redialer } from '../sync/net/redial.js'
import { ReleaseExchange } from '../sync/releases/release-exchange.js'
import { Releases } from '../sync/releases/releases.js'
import { BOOTSTRAP_ATTEMPTS, BOOTSTRAP_BACKOFF_MS } from './constants.js'
import { NodeDownloads } from './downloads.js'
import { createHost } from './host.js'
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
  const store = createStore({ repo, capacity: init.capacity })
  const started: Started[] = [{ stop: async () => await store.close() }]
  const unwind = async (): Promise<void> => {
    for (const s of started.reverse()) await Promise.resolve(s.stop()).catch(() => {})
  }
  try {
    const privateKey = await loadOrCreateIdentity(repo)
    // a peer caught sending bad blocks is not let back in, nor dialled again (peer exchange, mDNS)
    const banned = new Set<string>()
    const libp2p = await createHost({ privateKey, listen: init.listen, mdns: init.mdns, banned })
    started.push({ stop: async () => await libp2p.stop() })
    const pubsub = (libp2p.services as { pubsub: Pubsub }).pubsub

    const analytics = new Analytics(repo, init.analytics)
    started.push({ stop: async () => await analytics.stop() })
    const metrics = analytics.metrics

    const blocks = new BlockService({ libp2p, store: countServed(store, metrics) }, {
      uploadLimit: init.uploadLimit,
      rarestFirst: init.rarestFirst,
      compress: init.compress,
      banned,
      policy: readPolicy(repo),
      fair: init.fair,
      ledger: new Ledger(repo)
    })
    await blocks.start()
    started.push({ stop: async () => await blocks.stop() })

    // IPFS peers: served under the upload scheduler as one upload group, and a source for downloads
    const bitswap = init.bitswap === false
      ? undefined
      : new BitswapService({
        libp2p,
        store,
        charge: async (bytes, signal) => await blocks.chargeUpload(BITSWAP_UPLOAD_GROUP, BITSWAP_UPLOAD_GROUP, bytes, signal)
      })
    if (bitswap !== undefined) {
      await bitswap.start()
      started.push({ stop: async () => await bitswap.stop() })
    }

    const pex = new PeerExchange(libp2p)
    await pex.start()
    started.push({ stop: async () => await pex.stop() })
    libp2p.addEventListener('peer:discovery', evt => {
      void libp2p.dial(evt.detail.id).catch(() => {})
    })

    const ranking = new PeerRanking({ libp2p, blocks, bitswap })
    ranking.start()
    started.push(ranking)
    const downloads = new NodeDownloads({ store, peers: ranking, metrics })

    const trust = new TrustStore(repo)
    const index = new ReleaseIndex(repo)
    const releaseExchange = new ReleaseExchange({ libp2p, index })
    const releases = new Releases({ store, trust, index, bundles: releaseExchange, peers: ranking })
    const collections = new Collections({ repo, libp2p, pubsub, store, downloads }, init.collections)
    // the upload priorities of collection purposes follow the collections, which download through the blocks
    blocks.priorities.follow(collections)
    const urlCache = new UrlCache({ store, libp2p, pubsub, privateKey, blocks, collections }, init.urlCache)
    urlCache.on(e => { countCacheEvent(metrics, e) })
    const redialer = new Redialer(libp2p, init.bootstrap, { minPeers: init.minPeers })
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
    analytics.start(analyticsLinks({ libp2p, collections }))
    const gateway = init.gateway === undefined
      ? undefined
      : await startGateway({ store: countServed(store, metrics, [COUNTERS.bytesServed, COUNTERS.bytesServedGateway]) }, init.gateway)

    const node = new CmeshNode({
      store,
      libp2p,
      blocks,
      pex,
      redialer,
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
    await dialBootstrap(node, init)
    return node
  } catch (err) {
    await unwind()
    throw err
  }
}

/**
 * Dial the bootstrap addresses, each a few times with growing pauses (a busy node refuses more than a few new
 * connections a second from one host). Fails when every one fails and the caller needs them.
 */
async function dialBootstrap (node: CmeshNode, init: NodeOptions): Promise<void> {
  const dials = await Promise.allSettled((init.bootstrap ?? []).map(async addr => {
    for (let attempt = 1; ; attempt++) {
      try {
        await node.dial(addr)
        return
      } catch (err) {
        if (attempt >= BOOTSTRAP_ATTEMPTS) throw err
        await new Promise(resolve => setTimeout(resolve, BOOTSTRAP_BACKOFF_MS * attempt))
      }
    }
  }))
  const failed = dials.find(d => d.status === 'rejected')
  if (failed !== undefined && dials.every(d => d.status === 'rejected') && (init.bootstrapRequired ?? true)) throw failed.reason
}
