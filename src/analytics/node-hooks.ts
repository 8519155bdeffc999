import type { Libp2p } from '@libp2p/interface'
import type { Blockstore } from '../store/interface.js'
import type { Collections } from '../sync/collections/collections.js'
import type { AutoRelayStatus } from '../sync/net/auto-relay.js'
import type { Pubsub } from '../sync/net/pubsub.js'
import { localSubnets, onSegment } from '../policy/fairness/segments.js'
import type { AnalyticsLinks } from './analytics.js'
import { COUNTERS } from './constants.js'
import type { Metrics } from './counters.js'
import type { MonitorSource } from './prometheus.js'

/**
 * The block service's (or the gateway's) view of the store, counting the bytes of every block it reads to send
 * under `counters` (bytes served). Everything else is the store itself.
 */
/** `store` with the bytes read from it (getSync, copyInto) counted under `counters`. */
export function countServed<S extends Pick<Blockstore, 'getSync'>> (store: S, metrics: Metrics, counters: readonly string[] = [COUNTERS.bytesServed]): S {
  const getSync = (cid: Parameters<Blockstore['getSync']>[0]): Uint8Array => {
    const bytes = store.getSync(cid)
    for (const name of counters) metrics.count(name, bytes.length)
    return bytes
  }
  const copyInto = (cid: Parameters<Blockstore['copyInto']>[0], out: Uint8Array, at: number): number => {
    const n = (store as unknown as Pick<Blockstore, 'copyInto'>).copyInto(cid, out, at)
    for (const name of counters) metrics.count(name, n)
    return n
  }
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(store, {
    get (target, prop) {
      if (prop === 'getSync') return getSync
      if (prop === 'copyInto' && 'copyInto' in target) return copyInto
      const value = Reflect.get(target, prop, target) as unknown
      if (typeof value !== 'function') return value
      let fn = bound.get(prop)
      if (fn === undefined) bound.set(prop, fn = (value as (...a: unknown[]) => unknown).bind(target))
      return fn
    }
  })
}

/**
 * Count a download: bytes by source kind (HTTP mirrors are named by their URL, peers by their id), the resource
 * as requested by this node, and an error when it failed (`sources` undefined). Source ids are read here and
 * never stored.
 */
export function recordFetch (metrics: Metrics, root: string | undefined, sources: Record<string, number> | undefined): void {
  if (sources === undefined) {
    metrics.count(COUNTERS.errors)
    return
  }
  let peer = 0
  let mirror = 0
  for (const [id, n] of Object.entries(sources)) {
    if (/^https?:/.test(id)) mirror += n
    else peer += n
  }
  if (peer > 0) metrics.count(COUNTERS.bytesReceivedPeer, peer)
  if (mirror > 0) metrics.count(COUNTERS.bytesReceivedMirror, mirror)
  if (root !== undefined) {
    metrics.count(COUNTERS.resourcesFetched)
    metrics.resource(root)
  }
}

/**
 * Count a community-cache event: a hit, a miss, bytes fetched from outside (the origin) or from a member, bytes
 * delivered from the own store, and bytes saved (delivered without crossing the external link for the request,
 * counted by the requesting node only). The URL is not recorded.
 */
export function countCacheEvent (metrics: Metrics, event: { kind: string, bytes: number }): void {
  if (event.kind === 'hit') {
    metrics.count(COUNTERS.cacheHits)
  } else if (event.kind === 'miss') {
    metrics.count(COUNTERS.cacheMisses)
  } else if (event.kind === 'external') {
    metrics.count(COUNTERS.externalBytes, event.bytes)
    metrics.count(COUNTERS.cacheOriginBytes, event.bytes)
  } else if (event.kind === 'peer') {
    // not bytes.received.peer: the report adds that to the saved bytes, which count these already
    metrics.count(COUNTERS.cacheMemberBytes, event.bytes)
  } else if (event.kind === 'store') {
    metrics.count(COUNTERS.cacheStoreBytes, event.bytes)
  } else if (event.kind === 'saved') {
    metrics.count(COUNTERS.externalBytesSaved, event.bytes)
  }
}

/** What analytics reads from a node: its gossipsub, its peer counts, and the roots in force in its collections. */
export function analyticsLinks (node: { libp2p: Libp2p, collections: Collections }): AnalyticsLinks {
  const libp2p = node.libp2p
  return {
    pubsub: (libp2p.services as { pubsub?: Pubsub }).pubsub,
    libp2p,
    peers: () => {
      const subnets = localSubnets()
      const peers = libp2p.getPeers()
      const segment = peers.filter(p => libp2p.getConnections(p).some(c => onSegment(c.remoteAddr.toString(), subnets))).length
      return { connected: peers.length, segment }
    },
    catalog: () => {
      const entries = node.collections.list().flatMap(c => node.collections.browse(c.name))
      return entries.sort((a, b) => b.created - a.created).map(e => e.root)
    }
  }
}

/** What /metrics and /health read from a running node. */
export function monitorSource (node: {
  libp2p: Libp2p,
  store: Pick<Blockstore,
  'stat'>,
  started: number,
  analytics: { totals: () => Record<string, number>, budget: () => { lifetime: number, lifetimeLimit: number } },
  reachability?: { summary: () => string[] },
  nat?: () => AutoRelayStatus | undefined
}): MonitorSource {
  return {
    warnings: () => node.reachability?.summary() ?? [],
    nat: () => node.nat?.(),
    totals: () => node.analytics.totals(),
    uptimeSeconds: () => (Date.now() - node.started) / 1000,
    peers: () => node.libp2p.getPeers().length,
    store: () => {
      const s = node.store.stat()
      return { blocks: s.blocks, bytes: s.bytes, capacity: s.capacity }
    },
    privacy: () => {
      try {
        const b = node.analytics.budget()
        return { spent: b.lifetime, limit: b.lifetimeLimit }
      } catch {
        return { spent: 0, limit: 0 } // a policy.json made unreadable while running: the scrape still answers
      }
    }
  }
}
