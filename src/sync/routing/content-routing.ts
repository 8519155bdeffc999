import { createHash } from 'node:crypto'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { create as digestOf } from 'multiformats/hashes/digest'
import { CODEC_RAW, HASH_SHA2_256 } from '../../dag/constants.js'
import { ls, type ReadStore } from '../../dag/index.js'
import { FIND_PROVIDERS_TIMEOUT_MS, MAX_PROVIDED_ROOTS, MAX_ROUTED_PROVIDERS, PROVIDE_TIMEOUT_MS, REPROVIDE_SETTLE_MS, ROUTED_GRACE_MS } from './constants.js'

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

/** DEBUG=cmesh:routing prints what a lookup dials and what an address change provides again. */
const log = logger('cmesh:routing')

/** How a node takes part in the community's DHT: answering queries and holding records, asking only, or not at all. */
export type DhtMode = 'server' | 'client' | 'off'

export interface ContentRoutingComponents {
  libp2p: Pick<Libp2p, 'contentRouting' | 'dial' | 'peerId' | 'getPeers' | 'getConnections' | 'services' | 'getMultiaddrs' | 'addEventListener' |
  'removeEventListener'>
  /** Where the file roots inside a pinned directory are read from (with `provideFiles`). */
  store?: ReadStore
}

/**
 * The roots of the files and directories under the directory `root`, breadth first, at most `max`: a pinned
 * directory's own root is provided as well, so these are what a fetch of one file in it would look up. A file
 * root gives none; a directory whose blocks are not all held gives those of the parts that are.
 */
export async function innerRoots (store: ReadStore, root: CID, max: number): Promise<CID[]> {
  const out: CID[] = []
  const queue: CID[] = [root]
  while (queue.length > 0 && out.length < max) {
    const dir = queue.shift()!
    try {
      for await (const e of ls(store, dir)) {
        if (e.cid === undefined) continue
        if (out.length >= max) break
        out.push(e.cid)
        if (e.kind === 'dir') queue.push(e.cid)
      }
    } catch {} // a file (not a directory) or a part not held: nothing more under it
  }
  return out
}

type DhtPart = Pick<KadDHT, 'findProviders' | 'findPeer'>

/**
 * Content routing over the community's Kad-DHT (`/cmesh/kad/1.0.0`, by @libp2p/kad-dht): a node provides the roots
 * it pins (under routingKey), and a fetch that finds no holder among its connections asks the DHT for providers and dials them. The
 * providing load is bounded: at start, the MAX_PROVIDED_ROOTS newest pins; then each root as it is pinned (the DHT
 * re-provides what it provided on its own schedule). Roots only: the blocks under a root are fetched from whoever
 * holds the root, as from any connected peer.
 *
 * A provider record's addresses are those the node had when it provided: once started, a node whose addresses
 * gain one (a home behind NAT that reserved a relay slot, a UPnP mapping) provides the roots it provided so far
 * again, REPROVIDE_SETTLE_MS after its addresses stop changing, so the DHT servers that hold its records learn
 * the new address too (identify push tells only the peers it is connected to). A provider found at addresses that
 * do not answer is looked up by peer routing (FIND_PEER, which its relay answers with its current addresses).
 */
export interface ContentRoutingInit {
  /** Roots provided (pinned roots, and with provideFiles the roots inside them), newest first. @default MAX_PROVIDED_ROOTS */
  maxProvidedRoots?: number
  /**
   * Also provide the root of every file and directory inside a pinned directory (read from components.store), so
   * a fetch of one file finds holders of the directory; all within maxProvidedRoots. @default false
   */
  provideFiles?: boolean
}

export class ContentRouting {
  private readonly stopping = new AbortController()
  private readonly maxProvidedRoots: number
  /** The roots provided so far, oldest first, at most maxProvidedRoots (what an address change provides again). */
  private readonly provided = new Map<string, CID>()
  /** The addresses the latest provide carried. */
  private carried = new Set<string>()
  private settle: ReturnType<typeof setTimeout> | undefined
  private reproviding: Promise<void> | undefined
  private again = false
  /** Rounds of providing again after an address change, begun since start (for tests and the daemon's log). */
  reprovideRounds = 0

  private readonly provideFiles: boolean

  constructor (private readonly components: ContentRoutingComponents, init: ContentRoutingInit = {}) {
    this.maxProvidedRoots = init.maxProvidedRoots ?? MAX_PROVIDED_ROOTS
    this.provideFiles = init.provideFiles === true && components.store !== undefined
  }

  /** Follow this node's addresses: provide again, with the new ones, when they gain one. */
  start (): void {
    this.components.libp2p.addEventListener('self:peer:update', this.onSelfUpdate)
  }

  private readonly onSelfUpdate = (): void => {
    if (this.provided.size === 0 || this.stopping.signal.aborted) return
    const now = this.components.libp2p.getMultiaddrs().map(String)
    if (now.every(a => this.carried.has(a))) return
    clearTimeout(this.settle)
    this.settle = setTimeout(() => { void this.reprovide() }, REPROVIDE_SETTLE_MS)
  }

  /** Provide every root provided so far again, newest first; one round at a time (a change meanwhile runs another). */
  private async reprovide (): Promise<void> {
    if (this.reproviding !== undefined) {
      this.again = true
      return await this.reproviding
    }
    this.reproviding = (async () => {
      do {
        this.again = false
        this.reprovideRounds++
        log('addresses now %s: providing %d roots again', this.components.libp2p.getMultiaddrs().map(String).join(' '), this.provided.size)
        for (const cid of [...this.provided.values()].reverse()) {
          if (this.stopping.signal.aborted) return
          await this.announce(cid)
        }
      } while (this.again && !this.stopping.signal.aborted)
    })().finally(() => { this.reproviding = undefined })
    await this.reproviding
  }

  /**
   * Announce that this node holds `cid` (a pinned root) and, with provideFiles, the roots inside it. Failures are
   * not errors: a lone node has nobody to tell. True when the root itself was announced.
   */
  async provide (cid: CID): Promise<boolean> {
    this.remember(cid)
    const announced = await this.announce(cid)
    for (const inner of await this.inner(cid, this.maxProvidedRoots - 1)) {
      if (this.stopping.signal.aborted) break
      this.remember(inner)
      await this.announce(inner)
    }
    return announced
  }

  /** The roots inside `root` to provide besides it (none without provideFiles), at most `max`. */
  private async inner (root: CID, max: number): Promise<CID[]> {
    if (!this.provideFiles || max <= 0) return []
    return await innerRoots(this.components.store!, root, max)
  }

  private async announce (cid: CID): Promise<boolean> {
    const { libp2p } = this.components
    // alone, a provide would wait for peers until it timed out
    if (libp2p.getPeers().length === 0) return false
    try {
      const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(PROVIDE_TIMEOUT_MS)])
      // kad-dht sends the addresses of this moment with the record
      this.carried = new Set(libp2p.getMultiaddrs().map(String))
      await libp2p.contentRouting.provide(routingKey(cid), { signal })
      return true
    } catch {
      return false
    }
  }

  private remember (cid: CID): void {
    const key = cid.toString()
    this.provided.delete(key)
    this.provided.set(key, cid)
    if (this.provided.size > this.maxProvidedRoots) this.provided.delete(this.provided.keys().next().value!)
  }

  /**
   * Provide the newest `maxProvidedRoots` of `roots` (newest last, as a store lists its pins), one at a time; with
   * provideFiles, the roots inside them fill what the bound leaves, newest pin first.
   */
  async provideAll (roots: Iterable<CID>): Promise<number> {
    let newest = [...roots].slice(-this.maxProvidedRoots)
    if (this.provideFiles) {
      const keys: CID[] = []
      const seen = new Set<string>()
      const add = (c: CID): void => { if (!seen.has(c.toString())) { seen.add(c.toString()); keys.push(c) } }
      for (const root of [...newest].reverse()) add(root)
      for (const root of [...newest].reverse()) {
        if (keys.length >= this.maxProvidedRoots) break
        for (const inner of await this.inner(root, this.maxProvidedRoots - keys.length)) add(inner)
      }
      newest = keys.slice(0, this.maxProvidedRoots).reverse()
    }
    for (const cid of newest) this.remember(cid)
    let provided = 0
    for (const cid of newest.reverse()) {
      if (this.stopping.signal.aborted) break
      if (await this.announce(cid)) provided++
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
    const dht = (libp2p.services as { dht?: DhtPart }).dht
    const found = (provider: PeerId): true => {
      connected.push(provider)
      // one holder is enough to start downloading: the rest of the query only looks for more
      grace ??= setTimeout(() => { enough.abort() }, ROUTED_GRACE_MS)
      return true
    }
    /** Dial `provider` at the addresses not tried yet; true once connected (by this dial or another meanwhile). */
    const dialAt = async (provider: { id: PeerId, multiaddrs: Multiaddr[] }): Promise<boolean> => {
      const id = provider.id.toString()
      if (provider.id.equals(libp2p.peerId) || connected.some(p => p.equals(provider.id))) return true
      // another dial (peer discovery's, an earlier lookup's) may have connected it: asked again, it may answer now
      if (libp2p.getConnections(provider.id).some(c => c.status === 'open')) return found(provider.id)
      const seen = tried.get(id) ?? new Set<string>()
      const unique = new Map(provider.multiaddrs.map(a => withPeer(a, provider.id)).map(a => [a.toString(), a]))
      const fresh = [...unique.values()].filter(a => !seen.has(a.toString()))
      if (tried.has(id) && fresh.length === 0) return false
      tried.set(id, seen)
      for (const a of fresh) seen.add(a.toString())
      try {
        log('dialling provider %s at %s', id, fresh.length > 0 ? fresh.map(String).join(' ') : 'its id')
        await libp2p.dial(fresh.length > 0 ? fresh : provider.id, { signal: lookup })
        log('connected to provider %s', id)
        return found(provider.id)
      } catch (err) {
        log('provider %s not reached: %s', id, (err as Error).message)
        return libp2p.getConnections(provider.id).some(c => c.status === 'open') && found(provider.id)
      }
    }
    // a provider whose record's addresses do not answer (a home that reserved a relay slot after it provided) is
    // looked up by its peer id, once: the DHT nodes connected to it (its relay) know its current addresses
    const lookedUp = new Set<string>()
    const dialProvider = async (provider: { id: PeerId, multiaddrs: Multiaddr[] }): Promise<void> => {
      if (await dialAt(provider) || dht === undefined || lookedUp.has(provider.id.toString()) || lookup.aborted) return
      lookedUp.add(provider.id.toString())
      try {
        for await (const event of dht.findPeer(provider.id, { signal: lookup, useCache: false })) {
          if (event.name === 'FINAL_PEER' && event.peer.id.equals(provider.id) && await dialAt(event.peer)) return
        }
      } catch {}
    }
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
    } catch (err) {
      log('lookup of %s ended: %s', cid.toString(), (err as Error).message)
    } finally {
      clearTimeout(grace)
    }
    log('lookup of %s: %d providers connected', cid.toString(), connected.length)
    return connected.slice(0, MAX_ROUTED_PROVIDERS)
  }

  stop (): void {
    this.stopping.abort()
    clearTimeout(this.settle)
    this.components.libp2p.removeEventListener('self:peer:update', this.onSelfUpdate)
  }
}
