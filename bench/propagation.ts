/**
 * How fast does a collection announcement, and the resource it designates, reach a neighbourhood?
 * `npm run bench:propagation [-- --nodes 30 --mb 20 --rate unlimited --per-process 1 --churn 0.2 --trading off|on
 * --super-seed off|on --json]`
 *
 * --nodes real cmesh nodes on loopback (own temp repo each, mDNS off), hosted by child processes
 * (bench/propagation-node.ts, --per-process nodes each, IPC messages stamped with Date.now(): one machine, one
 * clock). A random mesh: node i is bootstrapped to 2-3 random earlier nodes; peer exchange (--pex on|off) may
 * connect more, so the mean degree is measured and printed. All join one collection whose governance lists the
 * leader (node 0) and one flooder as members, the leader as moderator, and --quota announcements an hour.
 * The same neighbourhood runs three scenarios, each with a fresh --mb MiB random file shared by the leader as
 * 'software':
 *   plain   nothing else happens
 *   churn   --churn of the nodes (not the leader nor the flooder) stop and restart on the same repo, over and
 *           over (up 0-3 s, down 2-5 s, bootstrapped to 2-3 random live nodes), until 95 % of the active nodes
 *           hold the resource; then they all come back
 *   flood   a member publishes raw signed announcements at --flood-rate a minute (0: as fast as it can), up to
 *           --flood-max, from 2 s before the share until the resource is everywhere
 * Times run from the leader's own acceptance of its announcement (after importing the file; the import time is
 * shown apart) to:
 *   announce 100 %   the last node accepting the announcement (by gossip or anti-entropy)
 *   resource 95 %    the first moment at least 95 % of the active nodes (up at that moment, leader included)
 *                    hold the resource, verified and pinned ('synced' event); without churn every node is active
 *   resource 100 %   every node holding it (after the churners came back)
 * MB/s is the bytes delivered to the other nodes over the time to the last holder (all downloads together).
 * Publisher copies: what the leader uploaded during the scenario (its ledger), over the resource's size.
 * `--trading on` starts every node with createNode's `trading` (holdings traded among downloaders), and
 * `--super-seed on` adds `superSeed` (a node holding a file whole sends each leaf about once).
 * A scenario ends when every node holds the resource, --grace s after 95 %, or after --timeout s. Set
 * DEBUG_PROPAGATION=1 to have the children print their collection events (failed downloads with their reasons).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generatePublisherKey } from '../src/policy/trust/keys.js'
import { parseRate } from '../src/policy/fairness/token-bucket.js'
import type { Command, Reply } from './propagation-node.js'
import { parseBenchArgs, printTable } from './report.js'
import { seededRandom } from './random.js'

const args = parseBenchArgs(process.argv.slice(2), {
  nodes: 30,
  mb: 20,
  rate: 'unlimited',
  'per-process': 1,
  churn: 0.2,
  quota: 30,
  'flood-rate': 1000,
  'flood-max': 1000,
  timeout: 600,
  grace: 60,
  pex: 'on',
  trading: 'off',
  'super-seed': 'off',
  seed: Math.floor(Math.random() * 2 ** 31),
  scenarios: 'plain,churn,flood'
})
const N = Number(args.nodes)
const MB = Number(args.mb)
const PER = Math.max(1, Number(args['per-process']))
const TIMEOUT_MS = Number(args.timeout) * 1000
const GRACE_MS = Number(args.grace) * 1000
const uploadLimit = String(args.rate) === 'unlimited' ? undefined : parseRate(String(args.rate))
const CHILD = fileURLToPath(new URL('./propagation-node.js', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-propagation-'))

/** The topology and the churn schedule follow --seed. */
const random = seededRandom(Number(args.seed))
const between = (lo: number, hi: number): number => lo + random() * (hi - lo)
function sample<T> (xs: T[], k: number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [a[i], a[j]] = [a[j]!, a[i]!] }
  return a.slice(0, k)
}
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

// --- children and their messages ---

const children: ChildProcess[] = []
const waiters = new Set<{ child: ChildProcess, match: (r: Reply) => boolean, resolve: (r: Reply) => void }>()
const addrs = new Map<number, string[]>()
const up = new Set<number>()
/** Per resource id: node -> Date.now() of its acceptance of the announcement, and of holding the resource. */
const accepted = new Map<string, Map<number, number>>()
const synced = new Map<string, Map<number, number>>()
/** Up/down transitions of churning nodes. */
const transitions: Array<{ at: number, idx: number, up: boolean }> = []
const errors: string[] = []

function onReply (child: ChildProcess, r: Reply): void {
  if (r.type === 'accepted' || r.type === 'synced') {
    const m = r.type === 'accepted' ? accepted : synced
    const byNode = m.get(r.id) ?? new Map<number, number>()
    m.set(r.id, byNode)
    if (!byNode.has(r.idx)) byNode.set(r.idx, r.at)
  } else if (r.type === 'error') {
    errors.push(`node ${r.idx} ${r.cmd}: ${r.message.split('\n')[0]}`)
  }
  for (const w of waiters) {
    if (w.child === child && w.match(r)) {
      waiters.delete(w)
      w.resolve(r)
    }
  }
}

function host (idx: number): ChildProcess {
  return children[idx % children.length]!
}

async function request<T extends Reply> (child: ChildProcess, cmd: Command, match: (r: Reply) => boolean, ms = 60_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const waiter = {
    child,
    match: (r: Reply) => match(r) || (r.type === 'error' && 'idx' in cmd && r.idx === cmd.idx && r.cmd === cmd.cmd),
    resolve: (_r: Reply) => {}
  }
  const p = new Promise<Reply>((resolve, reject) => {
    waiter.resolve = resolve
    timer = setTimeout(() => { waiters.delete(waiter); reject(new Error(`no answer to ${cmd.cmd} within ${ms} ms`)) }, ms)
  })
  waiters.add(waiter)
  child.send(cmd)
  try {
    const r = await p
    if (r.type === 'error') throw new Error(`${cmd.cmd} failed: ${r.message}`)
    return r as T
  } finally {
    clearTimeout(timer)
  }
}

async function startNode (idx: number, bootstrap: string[], doc: unknown, flooder: string): Promise<void> {
  const r = await request<Extract<Reply, { type: 'started' }>>(host(idx), {
    cmd: 'start',
    idx,
    repo: join(work, `node-${idx}`),
    bootstrap,
    uploadLimit,
    pex: args.pex !== 'off',
    doc,
    flooder,
    trading: args.trading === 'on',
    superSeed: args['super-seed'] === 'on'
  },
  r => r.type === 'started' && r.idx === idx
  )
  addrs.set(idx, r.addrs)
  up.add(idx)
  transitions.push({ at: r.at, idx, up: true })
}

async function stopNode (idx: number): Promise<void> {
  up.delete(idx)
  transitions.push({ at: Date.now(), idx, up: false })
  await request(host(idx), { cmd: 'stop', idx }, r => r.type === 'stopped' && r.idx === idx)
}

function randomFile (name: string): string {
  const path = join(work, name)
  const fd = openSync(path, 'w')
  for (let i = 0; i < MB; i++) writeSync(fd, randomBytes(1 << 20))
  closeSync(fd)
  return path
}

// --- measures ---

/** Ms from t0 until at least `share` of the nodes up at that moment hold `id` (held once synced: repos persist). */
function activeShare (id: string, t0: number, share: number): number | null {
  const held = synced.get(id) ?? new Map<number, number>()
  const events = [
    ...[...held.entries()].map(([idx, at]) => ({ at, idx, kind: 'held' as const })),
    ...transitions.map(t => ({ at: t.at, idx: t.idx, kind: t.up ? 'up' as const : 'down' as const }))
  ].sort((a, b) => a.at - b.at)
  const isUp = new Set<number>()
  const has = new Set<number>()
  for (const e of events) {
    if (e.kind === 'held') has.add(e.idx)
    else if (e.kind === 'up') isUp.add(e.idx)
    else isUp.delete(e.idx)
    if (e.at < t0) continue
    const active = [...isUp]
    if (active.length > 0 && active.filter(i => has.has(i)).length >= share * active.length) return e.at - t0
  }
  return null
}

function allBy (m: Map<string, Map<number, number>>, id: string, t0: number): number | null {
  const byNode = m.get(id)
  if (byNode === undefined || byNode.size < N) return null
  return Math.max(...byNode.values()) - t0
}

interface ScenarioResult {
  scenario: string
  importSeconds: number
  announceAllSeconds: number | null
  announced: number
  resource95Seconds: number | null
  resourceAllSeconds: number | null
  holders: number
  mbps: number | null
  /** What the leader uploaded during the scenario, over the resource's size. */
  publisherCopies: number | null
  churnCycles?: number
  flood?: { sent: number, seconds: number, acceptedTotal: number, acceptedMaxPerNode: number, nodesAccepting: number, rejected: Record<string, number> }
}

const leader = generatePublisherKey()
const flooderKey = generatePublisherKey()
const pem = (k: typeof leader): string => k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const governance = {
  name: 'propagation',
  publishers: 'members',
  members: [leader.publicKey, flooderKey.publicKey],
  moderators: [leader.publicKey],
  quotas: { maxResourceBytes: Math.max(1e6, 2 * MB * 2 ** 20), maxAnnouncementsPerHour: Number(args.quota), maxBytesPerDay: 1e12 },
  retentionDays: 30
}

async function scenario (name: 'plain' | 'churn' | 'flood', churners: number[], flooder: number): Promise<ScenarioResult> {
  const id = `${name}-resource`
  const file = randomFile(`${id}.bin`)
  let flooded: Promise<Extract<Reply, { type: 'flooded' }>> | undefined
  if (name === 'flood') {
    const floodDir = join(work, 'flood')
    mkdirSync(floodDir, { recursive: true })
    flooded = request(
      host(flooder),
      {
        cmd: 'flood',
        idx: flooder,
        keyPem: pem(flooderKey),
        doc: governance,
        perMinute: Number(args['flood-rate']),
        max: Number(args['flood-max']),
        dir: floodDir
      },
      r => r.type === 'flooded' && r.idx === flooder,
      TIMEOUT_MS + 120_000
    )
    await sleep(2000)
  }
  const sentBefore = await leaderSent()
  const shared = await request<Extract<Reply, { type: 'shared' }>>(
    host(0),
    { cmd: 'share', idx: 0, path: file, id, keyPem: pem(leader), purpose: 'software' },
    r => r.type === 'shared' && r.idx === 0,
    300_000
  )
  rmSync(file)
  const t0 = accepted.get(id)?.get(0) ?? shared.at
  // the leader holds what it shared (it has no 'synced' event for it)
  synced.set(id, new Map([...(synced.get(id) ?? new Map<number, number>()), [0, t0]]))
  let stopChurn = false
  let cycles = 0
  const loops = name !== 'churn'
    ? []
    : churners.map(async idx => {
      while (!stopChurn) {
        await sleep(between(0, 3000))
        if (stopChurn) break
        await stopNode(idx)
        await sleep(between(2000, 5000))
        const live = [...up]
        await startNode(idx, sample(live, Math.min(live.length, 2 + Math.floor(random() * 2))).map(i => addrs.get(i)![0]!), undefined, flooderKey.publicKey)
        cycles++
      }
    })
  const deadline = t0 + TIMEOUT_MS
  let reached95: number | undefined
  while (Date.now() < deadline) {
    await sleep(100)
    if (reached95 === undefined && activeShare(id, t0, 0.95) !== null) reached95 = Date.now()
    if (reached95 !== undefined) stopChurn = true
    if ((synced.get(id)?.size ?? 0) >= N) break
    if (reached95 !== undefined && Date.now() > reached95 + GRACE_MS) break
  }
  stopChurn = true
  await Promise.all(loops)
  if ((synced.get(id)?.size ?? 0) < N && reached95 !== undefined) {
    // the churners are back: give the stragglers the grace period
    const until = Math.min(deadline, Date.now() + GRACE_MS)
    while (Date.now() < until && (synced.get(id)?.size ?? 0) < N) await sleep(100)
  }
  let flood: ScenarioResult['flood']
  if (flooded !== undefined) {
    host(flooder).send({ cmd: 'flood-stop', idx: flooder } satisfies Command)
    const f = await flooded
    await sleep(2000)
    const counts = await Promise.all(children.map(async c => await request<Extract<Reply, { type: 'flood-counts' }>>(
      c,
      { cmd: 'counts' },
      r => r.type === 'flood-counts'
    )))
    const perNode = counts.flatMap(c => c.accepted.filter((_, i) => i % 2 === 1))
    const rejected: Record<string, number> = {}
    for (const c of counts) for (const [code, n] of Object.entries(c.rejected)) rejected[code] = (rejected[code] ?? 0) + n
    flood = {
      sent: f.sent,
      seconds: f.seconds,
      acceptedTotal: perNode.reduce((a, b) => a + b, 0),
      acceptedMaxPerNode: Math.max(0, ...perNode),
      nodesAccepting: perNode.filter(n => n > 0).length,
      rejected
    }
  }
  const sentAfter = await leaderSent()
  const all = allBy(synced, id, t0)
  const holders = synced.get(id)?.size ?? 0
  const lastHeld = holders > 1 ? Math.max(...synced.get(id)!.values()) - t0 : null
  const r95 = activeShare(id, t0, 0.95)
  return {
    scenario: name,
    importSeconds: (t0 - shared.startedAt) / 1000,
    announceAllSeconds: secs(allBy(accepted, id, t0)),
    announced: accepted.get(id)?.size ?? 0,
    resource95Seconds: secs(r95),
    resourceAllSeconds: secs(all),
    holders,
    mbps: lastHeld === null ? null : (holders - 1) * shared.size / 1e6 / (lastHeld / 1000),
    publisherCopies: sentBefore === null || sentAfter === null ? null : (sentAfter - sentBefore) / shared.size,
    ...(name === 'churn' ? { churnCycles: cycles } : {}),
    ...(flood !== undefined ? { flood } : {})
  }
}

/** What the leader (node 0, never churned) uploaded so far; null if it did not answer. */
async function leaderSent (): Promise<number | null> {
  try {
    return (await request<Extract<Reply, { type: 'sent' }>>(host(0), { cmd: 'sent', idx: 0 }, r => r.type === 'sent' && r.idx === 0)).bytes
  } catch {
    return null
  }
}

function secs (ms: number | null): number | null {
  return ms === null ? null : Math.round(ms) / 1000
}

const killAll = (): void => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL') }
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); rmSync(work, { recursive: true, force: true }); process.exit(130) })

try {
  const processes = Math.ceil(N / PER)
  for (let i = 0; i < processes; i++) {
    const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.on('message', (r: Reply) => { onReply(child, r) })
    children.push(child)
  }
  const flooder = 1 + Math.floor(random() * (N - 1))
  const churners = sample([...Array(N).keys()].filter(i => i !== 0 && i !== flooder), Math.round(Number(args.churn) * N))
  const tStart = performance.now()
  for (let i = 0; i < N; i++) {
    const earlier = [...Array(i).keys()]
    await startNode(i, sample(earlier, Math.min(i, 2 + Math.floor(random() * 2))).map(j => addrs.get(j)![0]!), governance, flooderKey.publicKey)
  }
  const startSeconds = (performance.now() - tStart) / 1000
  // let gossipsub build its meshes (heartbeats) and peer exchange settle before the first share
  let status: Array<Extract<Reply, { type: 'status' }>> = []
  for (let tries = 0; tries < 30; tries++) {
    await sleep(1000)
    status = await Promise.all([...Array(N).keys()].map(async idx => await request<Extract<Reply, { type: 'status' }>>(
      host(idx),
      { cmd: 'status', idx },
      r => r.type === 'status' && r.idx === idx
    )))
    if (tries >= 4 && status.every(s => s.mesh >= 1)) break
  }
  const meanDegree = status.reduce((a, s) => a + s.peers, 0) / N
  const meanMesh = status.reduce((a, s) => a + s.mesh, 0) / N

  const wanted = String(args.scenarios).split(',')
  const results: ScenarioResult[] = []
  for (const name of ['plain', 'churn', 'flood'] as const) if (wanted.includes(name)) results.push(await scenario(name, churners, flooder))
  const memory = await Promise.all(children.map(async c => await request<Extract<Reply, { type: 'rss' }>>(c, { cmd: 'rss' }, r => r.type === 'rss')))
  const rss = memory.map(m => m.rss)
  const peakRss = Math.max(...rss)
  const totalRss = rss.reduce((a, b) => a + b, 0)
  const peakAnon = Math.max(...memory.map(m => m.anon))
  const peakFile = Math.max(...memory.map(m => m.file))
  const peakHeap = Math.max(...memory.map(m => m.heap))
  const peakExternal = Math.max(...memory.map(m => m.external))

  const by = (name: string): ScenarioResult | undefined => results.find(r => r.scenario === name)
  const fmt = (v: number | null | undefined, d = 1): string => v === null || v === undefined ? 'n/a' : v.toFixed(d)
  const rows = results.map(r => ({
    scenario: r.scenario,
    'import s': fmt(r.importSeconds),
    'announce 100% s': r.announceAllSeconds === null ? `n/a (${r.announced}/${N})` : fmt(r.announceAllSeconds, 2),
    'resource 95% s': fmt(r.resource95Seconds),
    'resource 100% s': r.resourceAllSeconds === null ? `n/a (${r.holders}/${N})` : fmt(r.resourceAllSeconds),
    'MB/s': fmt(r.mbps),
    'publisher copies': fmt(r.publisherCopies, 2),
    notes: r.churnCycles !== undefined
      ? `${churners.length} churners, ${r.churnCycles} stop/restart cycles`
      : r.flood !== undefined
        ? `flood: ${r.flood.sent} sent in ${r.flood.seconds.toFixed(0)} s; accepted ${r.flood.acceptedTotal} over ${r.flood.nodesAccepting} nodes (max ${r.flood.acceptedMaxPerNode}/node, quota ${String(args.quota)}/h); rejected ${Object.entries(r.flood.rejected).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}`
        : ''
  }))
  if (args.json !== true) {
    console.log(`${N} nodes in ${processes} process(es) of ${PER}; started in ${startSeconds.toFixed(1)} s; mean degree ${meanDegree.toFixed(1)} connections, ${meanMesh.toFixed(1)} gossip mesh peers; ${MB} MiB per resource; upload limit ${String(args.rate)}; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB per process (${(totalRss / 2 ** 20).toFixed(0)} MiB in all; anonymous ${(peakAnon / 2 ** 20).toFixed(0)}, file-backed ${(peakFile / 2 ** 20).toFixed(0)} MiB at most; V8 heap used ${(peakHeap / 2 ** 20).toFixed(0)}, external ${(peakExternal / 2 ** 20).toFixed(0)} MiB at most); seed ${String(args.seed)}`)
    if (errors.length > 0) console.log(`errors: ${errors.slice(0, 5).join(' | ')}${errors.length > 5 ? ` (+${errors.length - 5})` : ''}`)
  }
  printTable(rows, args.json === true, {
    nodes: N,
    processes,
    nodesPerProcess: PER,
    mb: MB,
    uploadLimit: uploadLimit ?? null,
    pex: args.pex !== 'off',
    seed: Number(args.seed),
    startSeconds,
    meanDegree,
    meanMeshPeers: meanMesh,
    announceAllSeconds: by('plain')?.announceAllSeconds ?? null,
    resource95Seconds: by('plain')?.resource95Seconds ?? null,
    churnResource95Seconds: by('churn')?.resource95Seconds ?? null,
    floodResource95Seconds: by('flood')?.resource95Seconds ?? null,
    publisherCopies: by('plain')?.publisherCopies ?? null,
    trading: args.trading === 'on',
    superSeed: args['super-seed'] === 'on',
    peakRssBytesPerProcess: peakRss,
    peakAnonBytesPerProcess: peakAnon,
    peakFileBytesPerProcess: peakFile,
    peakHeapBytesPerProcess: peakHeap,
    peakExternalBytesPerProcess: peakExternal,
    totalRssBytes: totalRss,
    churners: churners.length,
    scenarios: results,
    errors
  })
} finally {
  await Promise.all(children.map(async c => {
    if (c.exitCode !== null || !c.connected) return
    const exited = new Promise(resolve => c.once('exit', resolve))
    c.send({ cmd: 'shutdown' } satisfies Command)
    await Promise.race([exited, sleep(15_000)])
  }))
  killAll()
  rmSync(work, { recursive: true, force: true })
}
