import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { AnalyticsOptions } from '../../src/analytics/analytics.js'
import { COUNTERS, SECURE_AGGREGATION_TOPIC } from '../../src/analytics/constants.js'
import { decodeSecureMessage } from '../../src/analytics/secure-wire.js'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { FakeClock } from '../helpers/fake-clock.js'
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

type Validator = (peer: unknown, msg: { data: Uint8Array }) => unknown
/** Each node's clock of its rounds' windows, and the round messages gossip brought it (hex). */
const clocks = new WeakMap<CmeshNode, FakeClock>()
const heard = new WeakMap<CmeshNode, Set<string>>()
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/**
 * One node on loopback taking part in secure rounds (stopped after the test), in a new repository or `repo`. Its
 * rounds' windows (the default lengths) run on a clock of the test's, ended by endWindows; every round message
 * gossip brings it is noted as it reaches the rounds.
 */
export async function secureNode (t: TestContext, now: () => number, extra: Partial<AnalyticsOptions> = {}, repo = join(tempDir(t), 'repo')): Promise<CmeshNode> {
  const clock = new FakeClock()
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
      secureAggregation: { clock, noiseShare: () => 0 },
      ...extra
    }
  })
  t.after(async () => await node.stop().catch(() => {}))
  clocks.set(node, clock)
  const got = new Set<string>()
  heard.set(node, got)
  const validators = (node.libp2p.services as { pubsub: { topicValidators: Map<string, Validator> } }).pubsub.topicValidators
  const validate = validators.get(SECURE_AGGREGATION_TOPIC)!
  validators.set(SECURE_AGGREGATION_TOPIC, (peer, msg) => {
    got.add(hex(msg.data))
    return validate(peer, msg)
  })
  return node
}

/**
 * End the window the secure rounds of `waiting` wait in, in the round of the period starting at `start`: once
 * each of them has begun the round and waits on its clock, and every message of the round that any of `nodes`
 * sent has reached each other one of `nodes` still running. Nothing more can come then, so the window's end is
 * what moves the round on, and ending it now does what a window of any length would do, on a loaded machine too.
 */
export async function endWindows (nodes: CmeshNode[], waiting: CmeshNode[], start: number): Promise<void> {
  const ofRound = (n: CmeshNode): string[] => n.analytics.rounds!.sent.filter(b => decodeSecureMessage(b).round.split(':')[1] === String(start)).map(hex)
  const running = (): CmeshNode[] => nodes.filter(n => n.libp2p.status === 'started')
  await waitFor(() => waiting.every(n => clocks.get(n)!.pending === 1 && ofRound(n).length > 0) &&
    nodes.every(from => ofRound(from).every(m => running().every(to => to === from || heard.get(to)!.has(m)))), { what: `the round of ${start} waiting on its window` })
  for (const n of waiting) {
    const clock = clocks.get(n)!
    clock.advance(clock.nextAt! - clock.now())
  }
}

/** `n` secure nodes, each connected to every other, once their secure aggregation mesh has formed. */
export async function startNodes (t: TestContext, n: number, now: () => number, extra: Partial<AnalyticsOptions> = {}): Promise<CmeshNode[]> {
  const nodes: CmeshNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await secureNode(t, now, extra))
  for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.dial(nodes[j]!.addrs()[0]!)
  await waitFor(() => nodes.every(x => meshPeers(x, SECURE_AGGREGATION_TOPIC) >= Math.min(2, n - 1)), { what: 'the secure aggregation mesh' })
  return nodes
}
