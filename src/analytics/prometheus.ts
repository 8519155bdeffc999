import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { AutoRelayStatus } from '../sync/net/index.js'

/** What /metrics and /health read from a node: counts and levels, never a peer id or an address. */
export interface MonitorSource {
  /** Lifetime totals of the node's counters (node.metrics). */
  totals: () => Record<string, number>
  uptimeSeconds: () => number
  peers: () => number
  store: () => { blocks: number, bytes: number, capacity: number }
  /** Epsilon this node has spent, and may spend, over its lifetime. */
  privacy: () => { spent: number, limit: number }
  /** What an operator should look at (unreachable bootstrap peers, other segments), without ids. @default none */
  warnings?: () => string[]
  /** What relay mode 'auto' decided (behind NAT or not, relay slots held); undefined in the other modes. @default none */
  nat?: () => AutoRelayStatus | undefined
}

/** `cache.hits` -> `cmesh_cache_hits_total`. */
export const counterName = (name: string): string => `cmesh_${name.replace(/[^a-zA-Z0-9_]/g, '_')}_total`

/**
 * A prom-client registry for one node: process metrics (prom-client's defaults, prefixed cmesh_), every counter
 * of node.metrics as a Prometheus counter (new names appear as components count them), and gauges for uptime,
 * peers, the store and the privacy budget. Values are read at scrape time.
 */
export function createRegistry (source: MonitorSource): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'cmesh_' })
  const counters = new Set<string>()
  let latest: Record<string, number> = {}
  const gauge = (name: string, help: string, read: () => number): void => {
    // eslint-disable-next-line no-new
    new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } })
  }
  gauge('cmesh_uptime_seconds', 'Seconds since the node started', source.uptimeSeconds)
  gauge('cmesh_peers_connected', 'Peers connected now', source.peers)
  gauge('cmesh_store_blocks', 'Blocks held in the store', () => source.store().blocks)
  gauge('cmesh_store_bytes', 'Bytes of block data held in the store', () => source.store().bytes)
  gauge('cmesh_store_capacity_bytes', 'Store capacity in bytes (+Inf when unlimited)', () => source.store().capacity)
  gauge('cmesh_privacy_epsilon_spent', 'Epsilon this node has spent on analytics releases over its lifetime', () => source.privacy().spent)
  gauge('cmesh_privacy_epsilon_limit', 'Epsilon this node may spend over its lifetime', () => source.privacy().limit)
  const original = registry.metrics.bind(registry)
  // counters other components add later appear at the next scrape
  registry.metrics = async () => {
    latest = source.totals()
    for (const name of Object.keys(latest)) {
      if (counters.has(name)) continue
      counters.add(name)
      // eslint-disable-next-line no-new
      new Counter({ name: counterName(name), help: `cmesh counter ${name}`, registers: [registry], collect () { this.reset(); this.inc(latest[name] ?? 0) } })
    }
    return await original()
  }
  return registry
}

/**
 * The /health answer: a summary for a liveness probe, with no peer id or address in it. `status` is 'warn' while
 * there are warnings (the node runs; a part of the neighbourhood is out of reach).
 * `nat`, in relay mode 'auto': whether peers showed the node is behind NAT, and the relay slots it holds.
 */
export function health (source: MonitorSource): {
  status: 'ok' | 'warn',
  warnings: string[],
  uptimeSeconds: number,
  peers: number,
  store: { blocks: number, bytes: number, capacity: number | null },
  nat?: AutoRelayStatus
} {
  const s = source.store()
  const warnings = source.warnings?.() ?? []
  const nat = source.nat?.()
  return {
    status: warnings.length > 0 ? 'warn' : 'ok',
    warnings,
    uptimeSeconds: Math.round(source.uptimeSeconds()),
    peers: source.peers(),
    store: { ...s, capacity: Number.isFinite(s.capacity) ? s.capacity : null },
    ...nat === undefined ? {} : { nat }
  }
}
