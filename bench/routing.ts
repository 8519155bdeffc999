/**
 * Content routing over the community DHT. `npm run bench:routing [-- --nodes 25,50,100 --procs 10 --lookups 50
 * --degree 3 --rounds 2 --timeout 10 --full --quick --json]`
 *
 * Each size of `--nodes` is a run of fresh nodes with the community DHT as servers (`/cmesh/kad/1.0.0`), spread
 * over `--procs` child processes (bench/routing-node.ts). By default light nodes: only what content routing needs
 * (transport, identify, the DHT, a store with the block service, cmesh's ContentRouting; what is switched off is
 * listed in routing-node.ts and printed above the table), so that 100 nodes fit on two cores; `--full` runs whole
 * cmesh nodes (createNode with `dht: 'server'`, mDNS and peer exchange off). Each process is on a loopback address
 * of its own (127.0.P.1, listening and dialling from it). Bootstrap: nodes start in waves of one per process; each
 * dials `--degree` random nodes of the earlier waves (bootstrap addresses), and its DHT runs its first self-query
 * as soon as it has a peer. Then every node runs its routing table refresh (kad-dht's refreshRoutingTable, what its
 * 5-minute timer does) `--rounds` times (2), and after each the bench waits until no routing table grows for 5 s.
 *
 * Then `--lookups` new roots, each added (pinned) by one random node, which provides it through cmesh's content
 * routing (ContentRouting.provide -> kad-dht provide; node.add on full nodes). For each root, one at a time, a
 * random other node first asks every peer it is connected to whether it holds the root (cmesh without the DHT: one
 * have question per connection), then looks it up with cmesh's ContentRouting.connectProviders (the DHT's
 * findProviders, dialling the provider found). Messages are the DHT's SEND_QUERY events (one request to one peer on
 * a stream of its own), counted by wrapping each node's DHT (bench/routing-node.ts).
 *
 * Columns: routing table and connections per node (means); lookups that found the provider; seconds to the first
 * provider (median, 95th percentile; a lookup that found none counts as slower than any that did); DHT messages per
 * lookup (the whole lookup, as connectProviders runs it: until ROUTED_GRACE_MS after the first provider is
 * connected, or the query's end) and before the first provider; seconds until connectProviders returned (what a
 * fetch waits before downloading); messages per provide; the providing cost of a store of 10,000 roots in messages
 * per minute (derivation printed below the table); asking every connected peer: messages (= connections asked),
 * share of lookups it found the root, seconds (median, to the first 'have' or to the last answer); the 1-minute
 * load average at the end of the run. After the table, a least-squares fit of messages per lookup against log2 N
 * and its extrapolation to 10,000 nodes. `--quick` is a smoke-sized run (12 nodes in 3 processes, 10 lookups).
 * `--json` prints, last, one line {"runs": [{nodes, medianSeconds, p95Seconds, messagesPerLookup,
 * provideMessagesPerMinute, ...}, ...]}.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MAX_PROVIDED_ROOTS } from '../src/sync/routing/index.js'
import { ChildPool } from './children.js'
import { parseBenchArgs, printTable } from './report.js'
import type { RoutingCommand, RoutingReply } from './routing-node.js'

const args = parseBenchArgs(process.argv.slice(2), {
  nodes: '100',
  procs: 10,
  lookups: 50,
  degree: 3,
  rounds: 2,
  timeout: 10,
  bytes: 1024,
  quick: false,
  full: false,
  json: false
})
if (args.quick === true) {
  args.nodes = '12'
  args.procs = 3
  args.lookups = 10
}

/**
 * @libp2p/kad-dht 16's reprovider (constants.ts there): a provider record is valid PROVIDERS_VALIDITY (48 h); every
 * hour the node re-provides its own records that expire within REPROVIDE_THRESHOLD (24 h), so each root it provides
 * is announced again about every 24 hours.
 */
const REPROVIDE_EVERY_MINUTES = 24 * 60
/** The store the providing cost is given for. */
const STORE_ROOTS = 10_000

/** What the nodes of this run are, printed above the table. */
const NODE_KIND = args.full === true
  ? 'full cmesh nodes (createNode, dht: server; mDNS and peer exchange off)'
  : 'light nodes (--full for whole cmesh nodes): TCP, TLS/noise, yamux, identify and push, ping, the DHT as a server, an LMDB store with the ' +
    'block service, cmesh\'s ContentRouting; switched off: gossipsub (collections, URL cache), bitswap, peer exchange, mDNS, the ' +
    'connection monitor, relay/AutoNAT/DCUtR, analytics, peer memory, redialer, reachability, release exchange, policy watch'

type Reply<T extends RoutingReply['type']> = Extract<RoutingReply, { type: T }>

interface Run {
  nodes: number
  processes: number
  routingTable: number
  connections: number
  lookups: number
  found: number
  medianSeconds: number | null
  p95Seconds: number | null
  messagesPerLookup: number
  messagesToFirstProvider: number | null
  lookupMedianSeconds: number | null
  lookupP95Seconds: number | null
  messagesPerProvide: number
  providesAnswered: number
  provideMessagesPerMinute: number
  provideMessagesPerMinuteAllRoots: number
  startMessages: number
  askMessages: number
  askFoundShare: number
  askMedianSeconds: number | null
  startSeconds: number
  load: string
}

const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-routing-'))
const CHILD = fileURLToPath(new URL('./routing-node.js', import.meta.url))
process.on('exit', () => { rmSync(work, { recursive: true, force: true }) })

function loadAverage (): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  } catch {
    return '?'
  }
}

/** The q-quantile (nearest rank) of `xs`; null stands for "not found", slower than any number. */
function quantile (xs: Array<number | null>, q: number): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a === null ? 1 : b === null ? -1 : a - b)
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? null
}
const mean = (xs: number[]): number => xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length

function sample<T> (xs: T[], k: number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a.slice(0, k)
}

async function inBatches<T> (xs: T[], size: number, f: (x: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < xs.length; i += size) await Promise.all(xs.slice(i, i + size).map(f))
}

let repos = 0

async function run (pool: ChildPool<RoutingCommand, RoutingReply>, n: number): Promise<Run> {
  const procs = Math.min(pool.children.length, n)
  const host = (idx: number): ReturnType<typeof pool.host> => pool.children[idx % procs]!
  const ask = async <T extends RoutingReply['type']>(cmd: RoutingCommand & { idx: number }, type: T, ms?: number): Promise<Reply<T>> =>
    await pool.request<Reply<T>>(host(cmd.idx), cmd, type, ms)
  const all = Array.from({ length: n }, (_, i) => i)
  const addrs: string[] = []
  try {
    // node 0 alone, then waves of one node per process, each node bootstrapped to `degree` random earlier nodes
    const t0 = performance.now()
    const waves = [[0], ...Array.from({ length: Math.ceil((n - 1) / procs) }, (_, w) => all.slice(1 + w * procs, 1 + (w + 1) * procs))]
    for (const wave of waves) {
      const earlier = all.slice(0, wave[0])
      const started = await Promise.all(wave.map(async idx => await ask({
        cmd: 'start',
        idx,
        repo: join(work, `n${repos++}`),
        bootstrap: sample(earlier, Number(args.degree)).map(j => addrs[j]!),
        full: args.full === true
      }, 'started')))
      for (const s of started) addrs[s.idx] = s.addrs[0]!
    }
    const startSeconds = (performance.now() - t0) / 1000
    const phase = (what: string): void => { if (args.json !== true) console.error(`${n} nodes: ${what} at ${((performance.now() - t0) / 1000).toFixed(1)} s (load ${loadAverage()})`) }
    phase('started')
    // every node runs its routing table refresh twice (what kad-dht's timer does every few minutes: the second walk
    // starts from the peers the first found); after each, wait until no table grows for 5 s
    let status = await statuses(ask, all)
    for (let round = 0; round < Number(args.rounds); round++) {
      await inBatches(all, procs, async idx => { await ask({ cmd: 'refresh', idx }, 'refreshed') })
      for (let stable = 0, last = -1; stable < 5;) {
        await new Promise(resolve => setTimeout(resolve, 1000))
        status = await statuses(ask, all)
        const total = status.reduce((a, s) => a + s.routingTable, 0)
        stable = total === last ? stable + 1 : 0
        last = total
      }
    }
    phase(`routing tables settled (${mean(status.map(s => s.routingTable)).toFixed(1)} peers each)`)
    const lookups = Number(args.lookups)
    // the roots, each pinned (and so provided) by one random node; one provide per process at a time
    const holders = Array.from({ length: lookups }, () => Math.floor(Math.random() * n))
    const added: Array<Reply<'added'>> = []
    await inBatches(holders.map((h, k) => ({ h, k })), procs, async ({ h, k }) => {
      const path = join(work, `root-${n}-${k}`)
      writeFileSync(path, randomBytes(Number(args.bytes)))
      added[k] = await ask({ cmd: 'add', idx: h, path }, 'added', 120_000)
    })
    phase('provided')
    const found: Array<Reply<'found'>> = []
    const asked: Array<Reply<'asked'>> = []
    for (let k = 0; k < lookups; k++) {
      const finder = (holders[k]! + 1 + Math.floor(Math.random() * (n - 1))) % n
      const cid = added[k]!.cid
      const timeoutMs = Number(args.timeout) * 1000
      // asked first: the DHT lookup dials the provider, which would then be a connection
      asked.push(await ask({ cmd: 'ask', idx: finder, cid, timeoutMs }, 'asked', timeoutMs + 30_000))
      found.push(await ask({ cmd: 'find', idx: finder, cid, timeoutMs }, 'found', timeoutMs + 30_000))
    }
    phase('looked up')
    const firsts = found.map(f => f.firstMs === null ? null : f.firstMs / 1000)
    const ends = found.map(f => f.providers.length > 0 ? f.lookup.ms / 1000 : null)
    const provides = added.map(a => a.provide).filter(p => p !== null)
    const messagesPerProvide = mean(provides.map(p => p.sends))
    const toFirst = found.filter(f => f.sendsToFirst !== null).map(f => f.sendsToFirst!)
    const askTimes = asked.map(a => (a.firstMs ?? a.allMs) / 1000)
    return {
      nodes: n,
      processes: procs,
      routingTable: mean(status.map(s => s.routingTable)),
      connections: mean(status.map(s => s.connections)),
      lookups,
      found: found.filter(f => f.firstMs !== null).length,
      medianSeconds: quantile(firsts, 0.5),
      p95Seconds: quantile(firsts, 0.95),
      messagesPerLookup: mean(found.map(f => f.lookup.sends)),
      messagesToFirstProvider: toFirst.length === 0 ? null : mean(toFirst),
      lookupMedianSeconds: quantile(ends, 0.5),
      lookupP95Seconds: quantile(ends, 0.95),
      messagesPerProvide,
      providesAnswered: added.filter(a => a.provided).length,
      provideMessagesPerMinute: Math.min(STORE_ROOTS, MAX_PROVIDED_ROOTS) * messagesPerProvide / REPROVIDE_EVERY_MINUTES,
      provideMessagesPerMinuteAllRoots: STORE_ROOTS * messagesPerProvide / REPROVIDE_EVERY_MINUTES,
      startMessages: Math.min(STORE_ROOTS, MAX_PROVIDED_ROOTS) * messagesPerProvide,
      askMessages: mean(asked.map(a => a.asked)),
      askFoundShare: asked.filter(a => a.found).length / Math.max(1, asked.length),
      askMedianSeconds: quantile(askTimes, 0.5),
      startSeconds,
      load: loadAverage()
    }
  } finally {
    await Promise.all(all.map(async idx => await ask({ cmd: 'stop', idx }, 'stopped', 30_000).catch(() => {})))
  }
}

async function statuses (
  ask: <T extends RoutingReply['type']>(cmd: RoutingCommand & { idx: number }, type: T, ms?: number) => Promise<Reply<T>>,
  all: number[]
): Promise<Array<Reply<'status'>>> {
  return await Promise.all(all.map(async idx => await ask({ cmd: 'status', idx }, 'status')))
}

/** Least squares y = a + b x. */
function fit (xs: number[], ys: number[]): { a: number, b: number } {
  const mx = mean(xs)
  const my = mean(ys)
  const sxx = xs.reduce((s, x) => s + (x - mx) ** 2, 0)
  const b = sxx === 0 ? 0 : xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / sxx
  return { a: my - b * mx, b }
}

async function main (): Promise<void> {
  const sizes = String(args.nodes).split(',').map(Number)
  for (const s of sizes) if (!Number.isInteger(s) || s < 3) throw new Error(`--nodes: sizes of at least 3, got ${s}`)
  const pool = new ChildPool<RoutingCommand, RoutingReply>(CHILD, Math.min(Number(args.procs), Math.max(...sizes)))
  const runs: Run[] = []
  try {
    await Promise.all(pool.children.map(async (c, p) => await pool.request(c, { cmd: 'setup', idx: p, ip: `127.0.${p + 1}.1` }, 'ready')))
    for (const n of sizes) {
      if (args.json !== true) console.error(`${n} nodes: starting (load ${loadAverage()})`)
      runs.push(await run(pool, n))
      if (args.json !== true) console.error(`done: ${JSON.stringify(runs[runs.length - 1])}`)
    }
  } finally {
    await pool.shutdown({ cmd: 'shutdown' })
  }
  const f = (x: number | null, d = 2): string => x === null ? '-' : x.toFixed(d)
  const rows = runs.map(r => ({
    nodes: r.nodes,
    procs: r.processes,
    'RT/node': f(r.routingTable, 1),
    'conns/node': f(r.connections, 1),
    found: `${r.found}/${r.lookups}`,
    'first median s': f(r.medianSeconds, 3),
    'first p95 s': f(r.p95Seconds, 3),
    'msgs/lookup': f(r.messagesPerLookup, 1),
    'msgs to first': f(r.messagesToFirstProvider, 1),
    'lookup median s': f(r.lookupMedianSeconds, 3),
    'lookup p95 s': f(r.lookupP95Seconds, 3),
    'msgs/provide': f(r.messagesPerProvide, 1),
    'provide msgs/min (10k roots)': f(r.provideMessagesPerMinute, 1),
    'ask-all msgs': f(r.askMessages, 1),
    'ask-all found': `${(r.askFoundShare * 100).toFixed(0)} %`,
    'ask-all median s': f(r.askMedianSeconds, 3),
    load: r.load
  }))
  const json = {
    runs: runs.map(r => ({
      nodes: r.nodes,
      medianSeconds: r.medianSeconds,
      p95Seconds: r.p95Seconds,
      messagesPerLookup: r.messagesPerLookup,
      provideMessagesPerMinute: r.provideMessagesPerMinute,
      processes: r.processes,
      found: r.found,
      lookups: r.lookups,
      messagesToFirstProvider: r.messagesToFirstProvider,
      lookupMedianSeconds: r.lookupMedianSeconds,
      lookupP95Seconds: r.lookupP95Seconds,
      messagesPerProvide: r.messagesPerProvide,
      provideMessagesPerMinuteAllRoots: r.provideMessagesPerMinuteAllRoots,
      askMessages: r.askMessages,
      askFoundShare: r.askFoundShare,
      askMedianSeconds: r.askMedianSeconds,
      routingTable: r.routingTable,
      connections: r.connections,
      load: r.load
    }))
  }
  if (args.json !== true) {
    console.log(`bench:routing, ${new Date().toISOString()}, ${runs.length} run(s); ${args.lookups} lookups each, bootstrap degree ${args.degree}`)
    console.log(NODE_KIND)
    console.log()
    for (const r of runs) {
      console.log(`providing cost at ${r.nodes} nodes: ${r.messagesPerProvide.toFixed(1)} DHT messages per provide (mean of ${r.lookups}; ` +
        `${r.providesAnswered} answered by at least one peer). A store of ${STORE_ROOTS} roots provides the ${MAX_PROVIDED_ROOTS} newest at start ` +
        `(MAX_PROVIDED_ROOTS): ${r.startMessages.toFixed(0)} messages once, then each re-provided every ${REPROVIDE_EVERY_MINUTES} min ` +
        `(kad-dht: 48 h validity, re-provided within 24 h of expiry): ${MAX_PROVIDED_ROOTS} x ${r.messagesPerProvide.toFixed(1)} / ${REPROVIDE_EVERY_MINUTES} = ` +
        `${r.provideMessagesPerMinute.toFixed(1)} messages/min; if all ${STORE_ROOTS} were pinned while running (each pin is provided, and ` +
        `re-provided): ${STORE_ROOTS} x ${r.messagesPerProvide.toFixed(1)} / ${REPROVIDE_EVERY_MINUTES} = ${r.provideMessagesPerMinuteAllRoots.toFixed(1)}.`)
    }
  }
  if (args.json !== true && runs.length >= 2) {
    const x = runs.map(r => Math.log2(r.nodes))
    const { a, b } = fit(x, runs.map(r => r.messagesPerLookup))
    const p = fit(x, runs.map(r => r.messagesPerProvide))
    const first = runs[0]!
    const last = runs[runs.length - 1]!
    console.log(`growth of msgs/lookup from ${first.nodes} to ${last.nodes} nodes: x${(last.messagesPerLookup / first.messagesPerLookup).toFixed(2)} ` +
      `(log N grows x${(Math.log(last.nodes) / Math.log(first.nodes)).toFixed(2)}, N x${(last.nodes / first.nodes).toFixed(2)})`)
    console.log(`fit msgs/lookup = ${a.toFixed(1)} + ${b.toFixed(2)} log2 N: at 10000 nodes ${(a + b * Math.log2(10_000)).toFixed(1)}; ` +
      `fit msgs/provide = ${p.a.toFixed(1)} + ${p.b.toFixed(2)} log2 N: at 10000 nodes ${(p.a + p.b * Math.log2(10_000)).toFixed(1)}`)
  }
  if (args.json !== true) console.log()
  printTable(rows, args.json === true, json)
}

await main()
