/**
 * How much external traffic does the community cache save? `npm run bench:cache [-- --nodes 20 --objects 2000
 * --requests 4000 --alpha 0.8 --min-kb 2 --max-kb 32 --capacity 1 --owners 2 --concurrency 20 --seed N] [--json]`
 *
 * A local origin HTTP server on 127.0.0.1 serves --objects objects of random sizes (--min-kb to --max-kb) and
 * counts every body byte it sends. --nodes real cmesh nodes (libp2p on loopback, LMDB each, every node connected
 * to every other) run in this one process (two cores do not fit twenty processes; the nodes' work is the same)
 * with unequal cache budgets (weights 1 to 8) adding up to --capacity times the catalogue's bytes. --requests
 * requests, each from a random node for an object drawn from Zipf(--alpha), run --concurrency at a time through
 * node.fetchUrl; every body is read (and so verified). The same request trace is then replayed against:
 *   no cache     every request downloads the object
 *   own LRU      each node alone with an LRU cache of its budget (the same budgets)
 *   ideal        only the first request for each object downloads it
 * and the saved fraction of each is 1 - its external bytes / no cache's. Seed target: the community saves at
 * least 60 %; goal: at least 90 % of the ideal saving.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type CmeshNode } from '../src/node/index.js'
import { Origin } from '../test/helpers/origin.js'
import { parseBenchArgs, printTable } from './report.js'
import { seededRandom } from './random.js'

const args = parseBenchArgs(process.argv.slice(2), {
  nodes: 20,
  objects: 2000,
  requests: 4000,
  alpha: 0.8,
  'min-kb': 2,
  'max-kb': 32,
  capacity: 1,
  owners: 2,
  concurrency: 20,
  seed: 1,
  json: false
})
const N = Number(args.nodes)
const OBJECTS = Number(args.objects)
const REQUESTS = Number(args.requests)
const ALPHA = Number(args.alpha)
const CONCURRENCY = Number(args.concurrency)
const jsonOnly = args.json === true

const random = seededRandom(Number(args.seed))
const log = (line: string): void => { if (!jsonOnly) process.stderr.write(line + '\n') }

// --- the catalogue, the budgets and the request trace ---

const sizes = Array.from({ length: OBJECTS }, () => Math.round((Number(args['min-kb']) + random() * (Number(args['max-kb']) - Number(args['min-kb']))) * 1024))
const catalogueBytes = sizes.reduce((a, b) => a + b, 0)
const WEIGHTS = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 6, 6, 8]
const weights = Array.from({ length: N }, (_, i) => WEIGHTS[i % WEIGHTS.length]!)
const totalCapacity = Math.round(Number(args.capacity) * catalogueBytes)
const budgets = weights.map(w => Math.floor(totalCapacity * w / weights.reduce((a, b) => a + b, 0)))

// Zipf over ranks; rank r is object perm[r], so popularity and size are independent
const perm = Array.from({ length: OBJECTS }, (_, i) => i)
for (let i = perm.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [perm[i], perm[j]] = [perm[j]!, perm[i]!] }
const cdf: number[] = []
let sum = 0
for (let r = 1; r <= OBJECTS; r++) { sum += 1 / r ** ALPHA; cdf.push(sum) }
function zipf (): number {
  const x = random() * sum
  let lo = 0
  let hi = cdf.length - 1
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid]! < x) lo = mid + 1; else hi = mid }
  return perm[lo]!
}
const trace = Array.from({ length: REQUESTS }, () => ({ node: Math.floor(random() * N), object: zipf() }))

// --- the baselines, on the same trace ---

const noCacheBytes = trace.reduce((s, r) => s + sizes[r.object]!, 0)
const idealBytes = [...new Set(trace.map(r => r.object))].reduce((s, o) => s + sizes[o]!, 0)
function lruBytes (): number {
  const caches = budgets.map(() => ({ used: 0, held: new Map<number, number>() }))
  let external = 0
  for (const r of trace) {
    const c = caches[r.node]!
    const size = sizes[r.object]!
    if (c.held.has(r.object)) {
      c.held.delete(r.object) // re-insert: most recent last
      c.held.set(r.object, size)
      continue
    }
    external += size
    if (size > budgets[r.node]!) continue
    while (c.used + size > budgets[r.node]!) {
      const [oldest, s] = c.held.entries().next().value as [number, number]
      c.held.delete(oldest)
      c.used -= s
    }
    c.held.set(r.object, size)
    c.used += size
  }
  return external
}
const lruExternal = lruBytes()

// --- the community run ---

const origin = new Origin()
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-cache-'))
const nodes: CmeshNode[] = []
// stopped by a signal: the temp repositories go too
const onSignal = (): void => { rmSync(work, { recursive: true, force: true }); process.exit(130) }
process.once('SIGINT', onSignal)
process.once('SIGTERM', onSignal)
let peerBytes = 0
let hits = 0
let failures = 0
try {
  await origin.start()
  for (let o = 0; o < OBJECTS; o++) {
    const bytes = new Uint8Array(sizes[o]!)
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (o * 31 + i) & 0xff // distinct content per object
    new DataView(bytes.buffer).setUint32(0, o)
    origin.set(`/obj/${o}`, { bytes, headers: { 'cache-control': 'max-age=86400' } })
  }
  const t0 = Date.now()
  for (let i = 0; i < N; i++) {
    const node = await createNode({
      repo: join(work, `node-${i}`),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      minPeers: 0,
      urlCache: { cacheBytes: budgets[i], owners: Number(args.owners), statusIntervalMs: 2000, prefetchIntervalMs: 0, allowLoopbackOrigins: true }
    })
    await node.pex?.stop()
    // a node refuses more than a few new connections a second from one host: retry with a pause
    for (const other of nodes) {
      for (let attempt = 1; ; attempt++) {
        try {
          await node.dial(other.addrs()[0]!)
          break
        } catch (err) {
          if (attempt >= 20) throw err
          await new Promise(resolve => setTimeout(resolve, 250))
        }
      }
    }
    node.urlCache.on(e => {
      if (e.kind === 'peer') peerBytes += e.bytes
      if (e.kind === 'hit') hits++
    })
    nodes.push(node)
  }
  const until = Date.now() + 30_000
  while (nodes.some(n => n.urlCache.community.memberCount() < N - 1) && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 100))
  log(`${N} nodes up and known to each other in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${REQUESTS} requests...`)

  const t1 = Date.now()
  let next = 0
  let done = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < trace.length) {
      const r = trace[next++]!
      try {
        const res = await nodes[r.node]!.fetchUrl(origin.url(`/obj/${r.object}`))
        let got = 0
        for await (const chunk of res.body()) got += chunk.length
        if (got !== sizes[r.object]) throw new Error(`object ${r.object}: ${got} bytes for ${sizes[r.object]!}`)
      } catch (err) {
        failures++
        if (failures <= 5) log(`request failed: ${(err as Error).message}`)
      }
      if (++done % 1000 === 0) log(`  ${done} requests, ${((Date.now() - t1) / 1000).toFixed(1)} s, origin sent ${(origin.bytesSent / 1e6).toFixed(1)} MB`)
    }
  }))
  const seconds = (Date.now() - t1) / 1000
  const communityExternal = origin.bytesSent
  const saved = (external: number): number => 1 - external / noCacheBytes
  const savedFraction = saved(communityExternal)
  const idealSavedFraction = saved(idealBytes)
  const lruSavedFraction = saved(lruExternal)
  const held = nodes.reduce((s, n) => s + n.urlCache.index.usedBytes, 0)
  const unique = new Set(nodes.flatMap(n => [...n.urlCache.index.all()].map(e => e.url))).size
  const mb = (n: number): string => (n / 1e6).toFixed(1)
  const pct = (f: number): string => `${(100 * f).toFixed(1)} %`
  printTable([
    { run: 'no cache', 'external MB': mb(noCacheBytes), saved: pct(0), '': '' },
    { run: 'own LRU per node (same budgets)', 'external MB': mb(lruExternal), saved: pct(lruSavedFraction), '': `${pct(lruSavedFraction / idealSavedFraction)} of ideal` },
    { run: `community cache (k=${String(args.owners)})`, 'external MB': mb(communityExternal), saved: pct(savedFraction), '': `${pct(savedFraction / idealSavedFraction)} of ideal; ${mb(peerBytes)} MB between members; ${hits} local hits; ${seconds.toFixed(1)} s` },
    { run: 'ideal (first requests only)', 'external MB': mb(idealBytes), saved: pct(idealSavedFraction), '': '' }
  ], jsonOnly, {
    nodes: N,
    objects: OBJECTS,
    requests: REQUESTS,
    alpha: ALPHA,
    owners: Number(args.owners),
    inProcess: true,
    catalogueBytes,
    capacityBytes: totalCapacity,
    noCacheBytes,
    idealExternalBytes: idealBytes,
    lruExternalBytes: lruExternal,
    communityExternalBytes: communityExternal,
    savedFraction,
    idealSavedFraction,
    lruSavedFraction,
    fractionOfIdeal: savedFraction / idealSavedFraction,
    peerBytes,
    localHits: hits,
    failures,
    heldBytes: held,
    uniqueObjectsHeld: unique,
    seconds
  })
  if (!jsonOnly) {
    console.log(`seed target (>= 60 % saved): ${savedFraction >= 0.6 ? 'met' : 'missed'}; goal (>= 90 % of the ideal saving): ${savedFraction >= 0.9 * idealSavedFraction ? 'met' : 'missed'}`)
    console.log(`the community holds ${unique} distinct objects (${mb(held)} MB in ${N} caches of ${mb(totalCapacity)} MB together); nodes ran in one process`)
  }
} finally {
  for (const n of nodes) await n.stop().catch(() => {})
  await origin.stop()
  rmSync(work, { recursive: true, force: true })
}
