import { createHash } from 'node:crypto'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { create as digestOf } from 'multiformats/hashes/digest'
import { CODEC_RAW, HASH_SHA2_256 } from '../../dag/constants.js'
import { FIND_PROVIDERS_TIMEOUT_MS, MAX_PROVIDED_ROOTS, MAX_ROUTED_PROVIDERS, PROVIDE_TIMEOUT_MS, ROUTED_GRACE_MS } from './constants.js'

/**
 * The DHT key a root is provided under: a CID over the SHA-256 of the root CID's bytes. @libp2p/kad-dht reads a
 * provider key as a CIDv0-shaped multihash, so a BLAKE3 root cannot be a key itself; every node derives the same
 * key from the same root, and the DHT's nodes see the key, not the root.
 */
export function routingKey (root: CID): CID {
  return CID.createV1(CODEC_RAW, digestOf(HASH_SHA2_256, createHash('sha256').update(root.bytes).digest()))
}

/**
 * `addr` ending in `/p2p/<peer>`: a provider record's addresses may leave it out, and a relay's circuit address
 * (`.../p2p/<relay>/p2p-circuit`) cannot be dialled without it.
 */
function withPeer (addr: Multiaddr, peer: PeerId): Multiaddr {
  const last = addr.getComponents().at(-1)
  return last?.name === 'p2p' && last.value === peer.toString() ? addr : addr.encapsulate(`/p2p/${peer.toString()}`)
}

/** How a node takes part in the community's DHT: answering queries and holding records, asking only, or not at all. */
export type DhtMode = 'server' | 'client' | 'off'

export interface ContentRoutingComponents {
  libp2p: Pick<Libp2p, 'contentRouting' | 'dial' | 'peerId' | 'getPeers' | 'services'>
}

/**
 * Content routing over the community's Kad-DHT (`/cmesh/kad/1.0.0`, by @libp2p/kad-dht): a node provides the roots
 * it pins (under routingKey), and a fetch that finds no holder among its connections asks the DHT for providers and dials them. The
 * providing load is bounded: at start, the MAX_PROVIDED_ROOTS newest pins; then each root as it is pinned (the DHT
 * re-provides what it provided on its own schedule). Roots only: the blocks under a root are fetched from whoever
 * holds the root, as from any connected peer.
 */
export interface ContentRoutingInit {
  /** Pinned roots provided at start, newest first. @default MAX_PROVIDED_ROOTS */
  maxProvidedRoots?: number
}

export class ContentRouting {
  private readonly stopping = new AbortController()
  private readonly maxProvidedRoots: number

  constructor (private readonly components: ContentRoutingComponents, init: ContentRoutingInit = {}) {
    this.maxProvidedRoots = init.maxProvidedRoots ?? MAX_PROVIDED_ROOTS
  }

  /** Announce that this node holds `cid` (a pinned root). Failures are not errors: a lone node has nobody to tell. */
  async provide (cid: CID): Promise<boolean> {
    // alone, a provide would wait for peers until it timed out
    if (this.components.libp2p.getPeers().length === 0) return false
    try {
      const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(PROVIDE_TIMEOUT_MS)])
      await this.components.libp2p.contentRouting.provide(routingKey(cid), { signal })
      return true
    } catch {
      return false
    }
  }

  /** Provide the newest `maxProvidedRoots` of `roots` (newest last, as a store lists its pins), one at a time. */
  async provideAll (roots: Iterable<CID>): Promise<number> {
    const all = [...roots]
    let provided = 0
    for (const cid of all.slice(-this.maxProvidedRoots).reverse()) {
      if (this.stopping.signal.aborted) break
      if (await this.provide(cid)) provided++
    }
    return provided
  }

  /**
   * Find up to MAX_ROUTED_PROVIDERS providers of `cid` other than this node and dial them; the peers now connected.
   * Returns ROUTED_GRACE_MS after the first provider is connected (more found meanwhile are dialled too), when the
   * DHT query ends, after FIND_PROVIDERS_TIMEOUT_MS, or when `signal` aborts.
   */
  async connectProviders (cid: CID, signal?: AbortSignal): Promise<PeerId[]> {
    const { libp2p } = this.components
    const connected: PeerId[] = []
    const enough = new AbortController()
    let grace: ReturnType<typeof setTimeout> | undefined
    const lookup = AbortSignal.any([
      this.stopping.signal,
      enough.signal,
      AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT_MS),
      ...(signal === undefined ? [] : [signal])
    ])
    // the addresses of a provider as each DHT node that answered tells them (one may hold stale ones: a home's
    // address from before it reserved a relay slot); a provider not reached is dialled again at new ones
    const tried = new Map<string, Set<string>>()
    const dialProvider = async (provider: { id: PeerId, multiaddrs: Multiaddr[] }): Promise<void> => {
      const id = provider.id.toString()
      if (provider.id.equals(libp2p.peerId) || connected.some(p => p.equals(provider.id))) return
      const seen = tried.get(id) ?? new Set<string>()
      const fresh = provider.multiaddrs.map(a => withPeer(a, provider.id)).filter(a => !seen.has(a.toString()))
      if (tried.has(id) && fresh.length === 0) return
      tried.set(id, seen)
      for (const a of fresh) seen.add(a.toString())
      try {
        await libp2p.dial(fresh.length > 0 ? fresh : provider.id, { signal: lookup })
        connected.push(provider.id)
        // one holder is enough to start downloading: the rest of the query only looks for more
        grace ??= setTimeout(() => { enough.abort() }, ROUTED_GRACE_MS)
      } catch {}
    }
    const dht = (libp2p.services as { dht?: Pick<KadDHT, 'findProviders'> }).dht
    try {
      if (dht === undefined) {
        for await (const provider of libp2p.contentRouting.findProviders(routingKey(cid), { signal: lookup })) {
          await dialProvider(provider)
          if (connected.length >= MAX_ROUTED_PROVIDERS) break
        }
      } else {
        for await (const event of dht.findProviders(routingKey(cid), { signal: lookup })) {
          if (event.name !== 'PROVIDER') continue
          for (const provider of event.providers) await dialProvider(provider)
          if (connected.length >= MAX_ROUTED_PROVIDERS) break
        }
      }
    } catch {
    } finally {
      clearTimeout(grace)
    }
    return connected.slice(0, MAX_ROUTED_PROVIDERS)
  }

  stop (): void {
    this.stopping.abort()
  }
}
