import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { AnalyticsOptions } from '../../src/analytics/analytics.js'
import { COUNTERS, SECURE_AGGREGATION_TOPIC } from '../../src/analytics/constants.js'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

/** Nodes of the secure aggregation tests: hourly periods, no noise share (the community sum is the true sum). */
export const HOUR = 3600_000
export const POLICY = { period: 'hour' as const, epsilonPerPeriod: 1, lifetimeEpsilon: 100 }

export function meshPeers (node: CmeshNode, topic: string): number {
  return (node.libp2p.services as { pubsub: { getMeshPeers: (topic: string) => string[] } }).pubsub.getMeshPeers(topic).length
}

/** What a node puts in: distinct figures per node, within the hour's caps. */
export function count (node: CmeshNode, i: number, round: number): void {
  node.metrics.count(COUNTERS.bytesReceivedPeer, (3 + i + round) * 1e6)
  node.metrics.count(COUNTERS.externalBytesSaved, (5 + 2 * i) * 1e6)
  node.metrics.count(COUNTERS.bytesServed, (1 + i * round) * 1e6)
  node.metrics.count(COUNTERS.cacheHits, 2 + i)
  node.metrics.count(COUNTERS.errors, i % 2)
}

/** One node on loopback taking part in secure rounds (stopped after the test), in a new repository or `repo`. */
export async function secureNode (t: TestContext, now: () => number, extra: Partial<AnalyticsOptions> = {}, repo = join(tempDir(t), 'repo')): Promise<CmeshNode> {
  const node = await createNode({
    repo,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    minPeers: 0,
    analytics: {
      policy: POLICY,
      flushIntervalMs: 200,
      now,
      // no noise: the community sum must be the true sum exactly
      secureAggregation: { keyWindowMs: 3000, stepWindowMs: 15_000, noiseShare: () => 0 },
      ...extra
    }
  })
  t.after(async () => await node.stop().catch(() => {}))
  return node
}

/** `n` secure nodes, each connected to every other, once their secure aggregation mesh has formed. */
export async function startNodes (t: TestContext, n: number, now: () => number, extra: Partial<AnalyticsOptions> = {}): Promise<CmeshNode[]> {
  const nodes: CmeshNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await secureNode(t, now, extra))
  for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.dial(nodes[j]!.addrs()[0]!)
  await waitFor(() => nodes.every(x => meshPeers(x, SECURE_AGGREGATION_TOPIC) >= Math.min(2, n - 1)), { what: 'the secure aggregation mesh' })
  return nodes
}
