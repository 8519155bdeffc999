import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { startApi } from '../../src/daemon/index.js'
import { ANALYTICS_TOPIC, MAX_REPORT_BYTES } from '../../src/analytics/constants.js'
import { startMonitor } from '../../src/analytics/monitor.js'
import { monitorSource } from '../../src/analytics/node-hooks.js'
import { communityReport } from '../../src/analytics/community.js'
import { renderReport, REPORT_FORMATS } from '../../src/analytics/report.js'
import { decodeReport, encodeReport } from '../../src/analytics/wire.js'
import { noisyRelease } from '../../src/analytics/release.js'
import { periodStart } from '../../src/analytics/period.js'
import * as dagCbor from '@ipld/dag-cbor'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { generatePublisherKey } from '../../src/policy/trust/keys.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const POLICY = { epsilonPerPeriod: 8, lifetimeEpsilon: 100, popularityThreshold: 1 }

async function startNode (t: TestContext, doc: Record<string, unknown>, gateway?: { port: number }): Promise<CmeshNode> {
  const node = await createNode({
    repo: join(tempDir(t), 'repo'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    minPeers: 0,
    gateway,
    analytics: { policy: POLICY, flushIntervalMs: 200 }
  })
  t.after(async () => await node.stop().catch(() => {}))
  await node.collections.join(doc)
  return node
}

function meshPeers (node: CmeshNode, topic: string): number {
  return (node.libp2p.services as { pubsub: { getMeshPeers: (topic: string) => string[] } }).pubsub.getMeshPeers(topic).length
}

/** Every way the text or bytes could name a node: peer ids (text and binary), listen addresses, ports. */
function identifiers (nodes: CmeshNode[]): Array<{ what: string, needle: Buffer }> {
  const out: Array<{ what: string, needle: Buffer }> = []
  for (const n of nodes) {
    const id = n.peerId.toString()
    out.push({ what: `peer id ${id}`, needle: Buffer.from(id) })
    out.push({ what: `peer id bytes of ${id}`, needle: Buffer.from(peerIdFromString(id).toMultihash().bytes) })
    for (const a of n.addrs()) {
      out.push({ what: `address ${a}`, needle: Buffer.from(a.split('/p2p/')[0]!) })
      const port = a.split('/tcp/')[1]!.split('/')[0]!
      out.push({ what: `port ${port}`, needle: Buffer.from(`:${port}`) }, { what: `port ${port}`, needle: Buffer.from(`/tcp/${port}`) })
    }
  }
  out.push({ what: 'an IP address', needle: Buffer.from('127.0.0.1') })
  return out
}

function scan (what: string, bytes: Uint8Array | string, needles: Array<{ what: string, needle: Buffer }>): void {
  const hay = Buffer.from(bytes)
  for (const n of needles) assert.equal(hay.indexOf(n.needle), -1, `${what} contains ${n.what}`)
}

describe('analytics across a neighbourhood', () => {
  it('counts, releases over gossip, combines at every node, and no report, metric or gossip message names a node', async t => {
    const leader = generatePublisherKey()
    const doc = {
      name: 'riverside',
      publishers: [leader.publicKey],
      moderators: [],
      quotas: { maxResourceBytes: 10_000_000, maxAnnouncementsPerHour: 100, maxBytesPerDay: 100_000_000 },
      retentionDays: 30
    }
    const nodes = [await startNode(t, doc, { port: 0 }), await startNode(t, doc), await startNode(t, doc)]
    const [a, b, c] = nodes as [CmeshNode, CmeshNode, CmeshNode]
    await a.dial(b.addrs()[0]!)
    await b.dial(c.addrs()[0]!)
    await a.dial(c.addrs()[0]!)
    const gossip: Uint8Array[] = []
    for (const n of nodes) {
      const ps = (n.libp2p.services as { pubsub: EventTarget }).pubsub
      ps.addEventListener('message', (evt: Event) => {
        const m = (evt as CustomEvent<{ topic: string, data: Uint8Array, type: string, from?: unknown }>).detail
        if (m.topic !== ANALYTICS_TOPIC) return
        assert.equal(m.type, 'unsigned')
        assert.equal(m.from, undefined, 'gossip messages carry no sender')
        gossip.push(m.data)
      })
    }
    await waitFor(() => nodes.every(n => meshPeers(n, ANALYTICS_TOPIC) >= 2), { what: 'analytics meshes' })

    const path = join(tempDir(t), 'lesson.bin')
    writeFileSync(path, pseudoRandom(300_000, 9))
    const shared = await a.collections.share(path, { collection: 'riverside', key: leader, title: 'Lesson <1> & "fractions"', purpose: 'education' })
    await waitFor(() => [b, c].every(n => n.collections.browse('riverside')[0]?.status === 'synced'), { what: 'the lesson everywhere' })
    // blocks served over a's HTTP gateway count as served too
    const car = await fetch(`${a.gateway!.url}/ipfs/${shared.root!}?format=car`)
    const carBytes = (await car.arrayBuffer()).byteLength
    assert.equal(car.status, 200)
    await a.analytics.tick()
    assert.ok(a.analytics.totals()['bytes.served.gateway']! >= 300_000 && carBytes > 300_000)

    // local counters: what a served, what b and c received, the resource as requested by b and c
    assert.ok(a.analytics.totals()['bytes.served']! >= 300_000 / 2, 'the publisher served blocks')
    // a download is counted when its fetch returns, which may come a moment after the resource shows as synced
    const receivedByBoth = (): number => (b.analytics.totals()['bytes.received.peer'] ?? 0) + (c.analytics.totals()['bytes.received.peer'] ?? 0)
    await waitFor(() => receivedByBoth() >= 2 * 300_000, { what: 'b and c to count what they received' })
    assert.equal(b.analytics.totals()['resources.fetched'], 1)
    b.metrics.count('cache.hits', 3)
    b.metrics.count('external.bytes', 1_000_000)

    for (const n of nodes) await n.analytics.release()
    await waitFor(() => nodes.every(n => n.analytics.reports().length === 3), { what: 'every release at every node' })
    assert.equal(gossip.length, 6, 'each release reached the two other nodes once')
    for (const bytes of gossip) {
      const r = decodeReport(bytes)
      assert.deepEqual(r.popular.map(p => p[0]), [shared.root], 'reports cover the public resources in force')
    }

    // what a broken or hostile node might send is checked before it is stored or relayed: garbage, an unknown
    // field, an oversized message; a valid aggregate sent after them shows they were seen and refused
    const pubsub = (a.libp2p.services as { pubsub: { publish: (topic: string, data: Uint8Array) => Promise<unknown> } }).pubsub
    const valid = noisyRelease({
      period: 'week',
      start: periodStart('week', Date.now()),
      counters: {},
      requested: new Set(),
      catalog: [],
      epsilon: 1,
      maxResources: 1
    })
    await pubsub.publish(ANALYTICS_TOPIC, new Uint8Array([0xa1, 0x61, 0x76, 0x01]))
    await pubsub.publish(ANALYTICS_TOPIC, dagCbor.encode({ ...valid, peer: a.peerId.toString() }))
    await pubsub.publish(ANALYTICS_TOPIC, new Uint8Array(MAX_REPORT_BYTES + 100))
    await pubsub.publish(ANALYTICS_TOPIC, encodeReport(valid))
    await waitFor(() => [b, c].every(n => n.analytics.reports().length === 4), { what: 'the valid aggregate at b and c' })
    assert.equal(gossip.length, 8, 'only the valid one was delivered, to b and c')
    assert.ok([b, c].every(n => n.analytics.reports().length === 4))

    const report = communityReport(c.analytics)
    assert.equal(report.periods.length, 1)
    assert.equal(report.periods[0]!.nodesOnline, 4)
    assert.equal(report.reports, 4)
    const rendered = REPORT_FORMATS.map(f => ({ f, text: renderReport(report, f) }))
    const html = rendered.find(r => r.f === 'html')!.text
    assert.match(html, /<svg /)
    assert.doesNotMatch(html, /<script|src=|href=/, 'self-contained: nothing fetched, nothing run')
    if (report.periods[0]!.popular.length > 0) assert.ok(html.includes('Lesson &lt;1&gt; &amp; &quot;fractions&quot;'), 'titles are escaped')

    const api = await startApi(b, b.store.repo)
    t.after(async () => await api.close())
    const metrics = await (await fetch(`${api.url}/metrics`)).text()
    assert.match(metrics, /^cmesh_bytes_received_peer_total \d+/m)
    assert.match(metrics, /^cmesh_cache_hits_total 3$/m)
    assert.match(metrics, /^cmesh_peers_connected 2$/m)
    assert.match(metrics, /^cmesh_privacy_epsilon_spent 8$/m)
    const health = await (await fetch(`${api.url}/health`)).json() as { status: string, peers: number }
    assert.equal(health.status, 'ok')
    assert.equal(health.peers, 2)
    // the monitoring-only server: /metrics and /health, nothing that controls the node
    const monitor = await startMonitor(monitorSource(c))
    t.after(async () => await monitor.close())
    assert.match(await (await fetch(`${monitor.url}/metrics`)).text(), /^cmesh_resources_fetched_total 1$/m)
    assert.equal((await fetch(`${monitor.url}/api/v0/id`)).status, 404)

    const needles = identifiers(nodes)
    // the scan finds what it looks for
    assert.throws(() => scan('a control', `served ${a.peerId.toString()} 12`, needles), /contains peer id/)
    assert.throws(() => scan('a control', Buffer.concat([Buffer.from([1, 2]), Buffer.from(c.peerId.toMultihash().bytes)]), needles), /contains peer id bytes/)
    for (const bytes of gossip) scan('a gossip message', bytes, needles)
    for (const n of nodes) for (const r of n.analytics.reports()) scan('a stored report', JSON.stringify(r), needles)
    for (const { f, text } of rendered) scan(`the ${f} report`, text, needles)
    scan('/metrics', metrics, needles)
    scan('/health', JSON.stringify(health), needles)
  })
})
