import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { COUNTERS, QUANTITIES, SECURE_AGGREGATION_TOPIC } from '../../src/analytics/constants.js'
import { communityReport } from '../../src/analytics/community.js'
import { periodStart } from '../../src/analytics/period.js'
import type { PeriodRelease } from '../../src/analytics/analytics.js'
import { decodeSecureMessage } from '../../src/analytics/secure-wire.js'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const HOUR = 3600_000
const POLICY = { period: 'hour' as const, epsilonPerPeriod: 1, lifetimeEpsilon: 100 }

function meshPeers (node: CmeshNode, topic: string): number {
  return (node.libp2p.services as { pubsub: { getMeshPeers: (topic: string) => string[] } }).pubsub.getMeshPeers(topic).length
}

/** 8-byte big-endian two's complement of v, as a contribution would carry it unmasked. */
function word (v: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(v)))
  return b
}

/** What a node puts in: distinct figures per node, within the hour's caps. */
function count (node: CmeshNode, i: number, round: number): void {
  node.metrics.count(COUNTERS.bytesReceivedPeer, (3 + i + round) * 1e6)
  node.metrics.count(COUNTERS.externalBytesSaved, (5 + 2 * i) * 1e6)
  node.metrics.count(COUNTERS.bytesServed, (1 + i * round) * 1e6)
  node.metrics.count(COUNTERS.cacheHits, 2 + i)
  node.metrics.count(COUNTERS.errors, i % 2)
}

describe('secure aggregation rounds over gossip', () => {
  it('five nodes on loopback: the sum is exact without noise, a node that drops after contributing is recovered, one that does not contribute is out, and no message carries plain figures', async (t: TestContext) => {
    let shift = 0
    const base = periodStart('hour', Date.now()) + 10 * HOUR
    const now = (): number => base + shift
    const nodes: CmeshNode[] = []
    for (let i = 0; i < 5; i++) {
      const node = await createNode({
        repo: join(tempDir(t), 'repo'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        minPeers: 0,
        analytics: {
          policy: POLICY,
          flushIntervalMs: 200,
          now,
          // no noise: the community sum must be the true sum exactly
          secureAggregation: { keyWindowMs: 3000, stepWindowMs: 15_000, noiseShare: () => 0 }
        }
      })
      t.after(async () => await node.stop().catch(() => {}))
      nodes.push(node)
    }
    for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.dial(nodes[j]!.addrs()[0]!)
    await waitFor(() => nodes.every(n => meshPeers(n, SECURE_AGGREGATION_TOPIC) >= 2), { what: 'the secure aggregation mesh' })
    const [a, b, c, d, e] = nodes as [CmeshNode, CmeshNode, CmeshNode, CmeshNode, CmeshNode]

    // round 1: all five; e stops as soon as its contribution is out (it never sends a recovery)
    nodes.forEach((n, i) => count(n, i, 1))
    const hour1 = now()
    const first = await Promise.all(nodes.map(async n => await n.analytics.releasePeriod({
      at: hour1,
      hooks: n === e ? { contributed: async () => { await e.stop() } } : {}
    })))
    const secure1 = first.slice(0, 4) as Array<Extract<PeriodRelease, { path: 'secure' }>>
    for (const r of secure1) assert.equal(r.path, 'secure', `a survivor released by the round: ${JSON.stringify(r)}`)
    assert.equal(first[4]!.path, 'none', 'the node that dropped saw no sum')
    const figures1 = first.map(r => (r as { figures: Record<string, number> }).figures)
    for (const q of QUANTITIES) {
      const truth = figures1.reduce((s, f) => s + f[q.key]!, 0)
      for (const r of secure1) assert.equal(r.aggregate.values[q.key], truth, `${q.key}: the sum of all five, the dropped node's self mask rebuilt`)
    }
    assert.ok(figures1[2]!.peerMB! > 0 && figures1[2]!.peerMB !== figures1[3]!.peerMB, 'the figures differ between nodes')
    assert.deepEqual(secure1.map(r => r.aggregate.contributors), [5, 5, 5, 5])
    assert.equal(new Set(secure1.map(r => Buffer.from(r.aggregate.id).toString('hex'))).size, 1, 'every node computed the same aggregate')
    for (const n of [a, b, c, d]) assert.equal(n.analytics.budget(hour1).period, 1, 'the epsilon of the hour is spent once')

    // round 2, an hour on: four nodes; d leaves the round once the cohort is agreed, before contributing
    shift += HOUR
    const four = [a, b, c, d]
    four.forEach((n, i) => count(n, i, 2))
    const hour2 = now()
    const second = await Promise.all(four.map(async n => await n.analytics.releasePeriod({
      at: hour2,
      hooks: n === d ? { cohort: () => false } : {}
    })))
    const secure2 = second.slice(0, 3) as Array<Extract<PeriodRelease, { path: 'secure' }>>
    for (const r of secure2) assert.equal(r.path, 'secure', `a contributor released by the round: ${JSON.stringify(r)}`)
    assert.equal(second[3]!.path, 'per-node', 'the node that left before contributing released its own noisy figures')
    const figures2 = secure2.map(r => r.figures)
    for (const q of QUANTITIES) {
      const truth = figures2.reduce((s, f) => s + f[q.key]!, 0)
      for (const r of secure2) assert.equal(r.aggregate.values[q.key], truth, `${q.key}: a, b and c only`)
    }
    assert.deepEqual(secure2.map(r => [r.aggregate.contributors, r.aggregate.cohort, r.aggregate.threshold]), [[3, 4, 3], [3, 4, 3], [3, 4, 3]])
    for (const n of four) assert.equal(n.analytics.budget(hour2).period, 1, 'each spent the hour once, on whichever path released')

    // the report reads the community aggregate (one noise draw) beside d's own release, heard over gossip
    const report = await waitFor(() => {
      const r = communityReport(a.analytics, { now })
      const p = r.periods.find(p => p.start === hour2)
      return p !== undefined && p.nodesOnline === 4 ? p : undefined
    }, { what: 'd\'s per-node release at a' })
    assert.equal(report.secureContributors, 3)
    assert.equal(communityReport(a.analytics, { now }).periods.find(p => p.start === hour1)!.secureContributors, 5)

    // no message a node broadcast carries its figures unmasked
    const rounds = [[figures1, nodes], [figures2, [a, b, c]]] as const
    for (const [figures, who] of rounds) {
      who.forEach((n, i) => {
        const plain = Buffer.concat(QUANTITIES.map(q => word(figures[i]![q.key]!)))
        const sent = n.analytics.rounds!.sent
        assert.ok(sent.length >= 3, 'the node took part')
        for (const bytes of sent) {
          assert.equal(Buffer.from(bytes).indexOf(plain), -1, 'a message holds the plain vector')
          for (const q of QUANTITIES) if (figures[i]![q.key]! > 0) assert.equal(Buffer.from(bytes).indexOf(word(figures[i]![q.key]!)), -1, `a message holds ${q.key} in the clear`)
          const m = decodeSecureMessage(bytes)
          if (m.t === 'contribution') assert.notDeepEqual(Buffer.from(m.masked), plain)
        }
      })
    }
  })
})
