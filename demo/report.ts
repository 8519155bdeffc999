/**
 * The end of `npm run demo`: the community report for the demo's neighbourhood. Every node the demo ran comes
 * back up on its repository (its counters are in `<repo>/metrics.mdb`), releases its differentially private
 * aggregate for the day over gossip, and one node combines what it heard into the report, written as HTML and
 * Markdown.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ANALYTICS_TOPIC } from '../src/analytics/constants.js'
import { communityReport } from '../src/analytics/community.js'
import { renderReport } from '../src/analytics/report.js'
import { createNode, type CmeshNode } from '../src/node/index.js'

/**
 * The demo's policy. Twelve nodes that each moved a few MB are a tiny community: with the default epsilon (1 a
 * week) and caps (2 GB a week) the noise would hide everything. The demo spends epsilon 20 on its one day and caps
 * each node's MB at 20, so the figures can be read; a real community keeps epsilon near 1 and lets many nodes and
 * long periods average the noise out (the ± margins say how far).
 */
const DEMO_POLICY = {
  analytics: {
    period: 'day',
    epsilonPerPeriod: 20,
    lifetimeEpsilon: 100,
    popularityThreshold: 2,
    caps: { servedMB: 20, peerMB: 20, mirrorMB: 20, externalMB: 20, savedMB: 20, resources: 10, errors: 10, cacheHits: 10, cacheMisses: 10 }
  }
}

async function until (cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 50))
}

/** Bring back the demo's nodes, release, combine, and write the report; returns the files written. */
export async function neighbourhoodReport (repoRoot: string, outDir = join(tmpdir(), `cmesh-demo-report-${Date.now()}`)): Promise<{ html: string, md: string }> {
  console.log('\n--- The community report ---\n')
  const repos = readdirSync(repoRoot).map(name => join(repoRoot, name)).filter(dir => existsSync(join(dir, 'metrics.mdb')) && existsSync(join(dir, 'identity.key')))
  const nodes: CmeshNode[] = []
  try {
    for (const repo of repos) {
      writeFileSync(join(repo, 'policy.json'), JSON.stringify(DEMO_POLICY))
      const bootstrap = nodes.length === 0 ? [] : [nodes[nodes.length - 1]!.addrs()[0]!]
      nodes.push(await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap }))
    }
    type WithPubsub = { pubsub: { getMeshPeers: (t: string) => string[] } }
    const mesh = (n: CmeshNode): number => (n.libp2p.services as WithPubsub).pubsub.getMeshPeers(ANALYTICS_TOPIC).length
    await until(() => nodes.every(n => mesh(n) > 0), 10_000)
    for (const n of nodes) await n.analytics.release()
    // a member of the demo's collection combines: it knows the titles of the resources shared there
    const combiner = nodes.find(n => n.collections.list().length > 0) ?? nodes[0]!
    await until(() => combiner.analytics.reports().length >= nodes.length, 10_000)
    const report = communityReport(combiner.analytics, { period: 'day' })
    mkdirSync(outDir, { recursive: true })
    const html = join(outDir, 'community-report.html')
    const md = join(outDir, 'community-report.md')
    writeFileSync(html, renderReport(report, 'html'))
    writeFileSync(md, renderReport(report, 'md'))
    const day = report.periods[report.periods.length - 1]
    console.log(`  ${nodes.length} nodes each released one noisy aggregate (epsilon ${DEMO_POLICY.analytics.epsilonPerPeriod}, chosen for a demo this small); one node heard ${report.reports}.`)
    if (day !== undefined) {
      const mb = (e: { value: number, margin: number }): string => `${Math.max(0, e.value).toFixed(0)} ± ${e.margin.toFixed(0)} MB`
      console.log(`  nodes online ${day.nodesOnline}; from neighbours ${mb(day.totals.peerMB!)}; served ${mb(day.totals.servedMB!)}; share of bytes from inside the community ${day.savedShare === null ? 'too noisy to tell' : `${(100 * day.savedShare).toFixed(0)} %`}`)
      console.log(`  popular: ${day.popular.length === 0 ? 'nothing passed the noisy threshold' : day.popular.map(p => `${p.title ?? p.root} (${p.requesters.value} ± ${p.requesters.margin.toFixed(1)} nodes)`).join(', ')}`)
    }
    console.log('\n  No peer id, address or who-fetched-what left any node: only noisy counts did.')
    console.log(`  Report written to ${html}\n                and ${md}`)
    return { html, md }
  } finally {
    for (const n of nodes) await n.stop().catch(() => {})
  }
}
