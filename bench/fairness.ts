/**
 * Does the upload scheduler share a node's upload fairly? `npm run bench:fairness [-- --peers 16 --rate 8MB/s
 * --seconds 6 --crowd 50 --seeders 5 --per-process 5 --crowd-only --rarest --trading --super-seed --json]`
 *
 * Real nodes in this process on loopback. Requesters listen on their own addresses (127.0.N.1: all of
 * 127.0.0.0/8 is this host) and the server dials them, so it sees each one from its own /24, as remote peers.
 *  1. `--peers` backlogged requesters download distinct files from one node limited to `--rate`, for `--seconds`;
 *     half of them greedy (12 requests in flight instead of 4). Jain's fairness index over the bytes each got, and
 *     the largest share any peer got over 1 s windows.
 *  2. A Sybil: 8 honest requesters (each its own /24) and one host with 8 identities (one /24): its group's share.
 *  3. A flash crowd: `--crowd` downloaders fetch one `--crowd-mb` MB file from `--seeders` seeders (each limited
 *     to --seed-rate) and from each other, within `--crowd-timeout` s: each seeder's upload ratio (bytes it
 *     uploaded / file size), their standard deviation, the time to the last download beside the seeders-alone
 *     bound (every downloader's copy from the seeders at their summed rate), and the CPU seconds of all its
 *     processes. `--rarest`, `--trading` and `--super-seed` turn on createNode's options of those names. Its
 *     nodes run in child processes (bench/crowd-node.ts): a process per seeder, one per `--per-process`
 *     downloaders, so fifty-five nodes share the machine's cores rather than one event loop. `--crowd-only` runs
 *     this part alone (fair).
 * Each runs with the scheduler (fair) and first come, first served (FIFO), in the same run.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CID } from 'multiformats/cid'
import { createNode, type CmeshNode, type NodeOptions } from '../src/node/index.js'
import { parsePolicy } from '../src/policy/fairness/policy-file.js'
import { parseRate } from '../src/policy/fairness/token-bucket.js'
import { DEFAULT_MAX_SHARE } from '../src/policy/fairness/constants.js'
import type { CrowdCommand, CrowdReply } from './crowd-node.js'
import { parseBenchArgs, printTable } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), {
  peers: 16,
  rate: '8MB/s',
  seconds: 6,
  'file-mb': 8,
  crowd: 50,
  seeders: 5,
  'seed-rate': '1MB/s',
  'crowd-mb': 2,
  'per-process': 5,
  'crowd-timeout': 120,
  'crowd-only': false,
  rarest: false,
  trading: false,
  'super-seed': false,
  json: false
})
/** Ask peers which blocks they hold and fetch the rarest first (createNode's rarestFirst). */
const rarestFirst = args.rarest === true
/** The holdings protocol and, with it, super-seeding (createNode's trading and superSeed). */
const trading = args.trading === true || args['super-seed'] === true
const superSeed = args['super-seed'] === true
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-fairness-'))
const open = new Set<CmeshNode>()
let repos = 0

async function start (ip: string, init: NodeOptions = {}): Promise<CmeshNode> {
  const n = await createNode({ repo: join(work, `n${repos++}`), listen: [`/ip4/${ip}/tcp/0`], mdns: false, minPeers: 0, ...init })
  open.add(n)
  return n
}

async function stop (nodes: CmeshNode[]): Promise<void> {
  await Promise.all(nodes.map(async n => { open.delete(n); await n.stop().catch(() => {}) }))
}

async function connect (server: CmeshNode, peers: CmeshNode[]): Promise<void> {
  for (const p of peers) {
    await server.dial(p.addrs()[0]!)
    while (!p.libp2p.getPeers().some(id => id.equals(server.peerId))) await new Promise(resolve => setTimeout(resolve, 10))
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

function jain (xs: number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0)
  const sq = xs.reduce((a, b) => a + b * b, 0)
  return sq === 0 ? 1 : sum * sum / (xs.length * sq)
}

function stdDev (xs: number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length)
}

interface Requester { node: CmeshNode, greedy: boolean, group: string }

/**
 * `requesters` each download their own file from `server` for `seconds`; bytes the server sent each, and each
 * group's largest share of what was sent over 1 s windows.
 */
async function backlog (server: CmeshNode, files: CID[], requesters: Requester[]): Promise<{
  bytes: number[],
  groupBytes: Map<string,
  number>,
  maxShare: number
}> {
  // requesters of distinct files know only the server: left to find each other, each asks fifteen peers that
  // hold nothing it wants, and the whole swarm slows to a fifth (seen on main too; see the report)
  for (const a of requesters) for (const b of requesters) if (a !== b) a.node.blocks.banned.add(b.node.peerId.toString())
  await connect(server, requesters.map(r => r.node))
  const sentTo = (): Map<string, number> => new Map(server.stats().map(r => [r.peer, r.sent]))
  const base = sentTo()
  const controller = new AbortController()
  const downloads = requesters.map(async (r, i) =>
    await r.node.fetch(files[i % files.length]!, { signal: controller.signal, perSource: r.greedy ? 12 : 4 }).catch(() => undefined))
  let maxShare = 0
  await sleep(1000) // the first second: connections warm up, the first requests arrive
  let last = sentTo()
  for (let s = 0; s < Number(args.seconds); s++) {
    await sleep(1000)
    const now = sentTo()
    const perGroup = new Map<string, number>()
    let total = 0
    for (const r of requesters) {
      const id = r.node.peerId.toString()
      const d = (now.get(id) ?? 0) - (last.get(id) ?? 0)
      perGroup.set(r.group, (perGroup.get(r.group) ?? 0) + d)
      total += d
    }
    if (total > 0) for (const v of perGroup.values()) maxShare = Math.max(maxShare, v / total)
    last = now
  }
  controller.abort()
  await Promise.all(downloads)
  const end = sentTo()
  const bytes = requesters.map(r => (end.get(r.node.peerId.toString()) ?? 0) - (base.get(r.node.peerId.toString()) ?? 0))
  const groupBytes = new Map<string, number>()
  requesters.forEach((r, i) => groupBytes.set(r.group, (groupBytes.get(r.group) ?? 0) + bytes[i]!))
  return { bytes, groupBytes, maxShare }
}

async function scenarios (fair: boolean, files: CID[], server: CmeshNode): Promise<{ jain: number, maxShare: number, sybilShare: number, mbps: number }> {
  server.blocks.setPolicy(parsePolicy({ fairness: { enabled: fair } }))
  const peers = Number(args.peers)
  const reqs: Requester[] = []
  for (let i = 0; i < peers; i++) reqs.push({ node: await start(`127.0.${i + 1}.1`), greedy: i % 2 === 1, group: `127.0.${i + 1}` })
  const one = await backlog(server, files, reqs)
  await stop(reqs.map(r => r.node))
  server.blocks.setPolicy(parsePolicy({ fairness: { enabled: fair } }))
  const sybil: Requester[] = []
  for (let i = 0; i < 8; i++) sybil.push({ node: await start(`127.0.${i + 101}.1`), greedy: false, group: `127.0.${i + 101}` })
  for (let i = 0; i < 8; i++) sybil.push({ node: await start(`127.0.99.${i + 1}`), greedy: false, group: 'sybil' })
  const two = await backlog(server, files, sybil)
  await stop(sybil.map(r => r.node))
  const total = [...two.groupBytes.values()].reduce((a, b) => a + b, 0)
  return {
    jain: jain(one.bytes),
    maxShare: one.maxShare,
    sybilShare: (two.groupBytes.get('sybil') ?? 0) / total,
    mbps: one.bytes.reduce((a, b) => a + b, 0) / 1e6 / Number(args.seconds)
  }
}

/** The crowd's child processes (bench/crowd-node.ts), and replies awaited from them. */
const CROWD_CHILD = fileURLToPath(new URL('./crowd-node.js', import.meta.url))
const children = new Set<ChildProcess>()

async function ask<T extends CrowdReply> (child: ChildProcess, cmd: CrowdCommand, type: T['type'], ms = 600_000): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { done(); reject(new Error(`no ${type} reply to ${cmd.cmd} in ${ms} ms`)) }, ms)
    const onMessage = (r: CrowdReply): void => {
      if (!('idx' in cmd) || !('idx' in r) || r.idx !== cmd.idx) return
      if (r.type === 'error' && r.cmd === cmd.cmd) { done(); reject(new Error(r.message)) }
      if (r.type === type) { done(); resolve(r as T) }
    }
    const done = (): void => { clearTimeout(timer); child.off('message', onMessage) }
    child.on('message', onMessage)
    child.send(cmd)
  })
}

/**
 * A flash crowd; `ratios` are what each seeder uploaded over the file's size, `seederShare` the part of the verified
 * bytes downloaders got from seeders (the rest they traded), `duplicates` the requests sent to race another,
 * `stolen` the endgame requests that took over the far half of a late one,
 * `receivedTwice` the verified bytes received beyond one copy per completed download, over those copies, and
 * `wireTwice` the same for the bytes on the wire (what arrived and was dropped as held already counts too),
 * `seedersAloneSeconds` the time the seeders alone would need (every download served by them at their summed rate),
 * `cpuSeconds` the CPU time of all the crowd's processes from the first download's start to the last's end.
 */
async function crowd (fair: boolean): Promise<{
  ratios: number[],
  seconds: number,
  failed: number,
  seederShare: number,
  duplicates: number,
  stolen: number,
  receivedTwice: number,
  wireTwice: number,
  seedersAloneSeconds: number,
  cpuSeconds: number
}> {
  const file = join(work, `crowd-${String(fair)}`)
  const size = Math.round(Number(args['crowd-mb']) * 1e6)
  writeFileSync(file, randomBytes(size))
  const seeders = Number(args.seeders)
  const crowdSize = Number(args.crowd)
  const per = Math.max(1, Number(args['per-process']))
  // a process per seeder, and one per --per-process downloaders
  const procs = seeders + Math.ceil(crowdSize / per)
  const kids: ChildProcess[] = []
  for (let i = 0; i < procs; i++) {
    const child = fork(CROWD_CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.add(child)
    kids.push(child)
  }
  const host = (idx: number): ChildProcess => idx < seeders ? kids[idx]! : kids[seeders + Math.floor((idx - seeders) / per)]!
  try {
    const addrs: string[] = []
    const seederIds = new Set<string>()
    let cid = ''
    for (let i = 0; i < seeders; i++) {
      const r = await ask<Extract<CrowdReply, { type: 'started' }>>(host(i), { cmd: 'start', idx: i, repo: join(work, `n${repos++}`), ip: `127.1.${i + 1}.1`, bootstrap: [], uploadLimit: parseRate(String(args['seed-rate'])), fair, rarestFirst, trading, superSeed }, 'started')
      addrs.push(r.addrs[0]!)
      seederIds.add(r.peerId)
      cid = (await ask<Extract<CrowdReply, { type: 'added' }>>(host(i), { cmd: 'add', idx: i, path: file }, 'added')).cid
    }
    const downloaders = Array.from({ length: crowdSize }, (_, k) => seeders + k)
    await Promise.all(downloaders.map(async idx => await ask(host(idx), { cmd: 'start', idx, repo: join(work, `n${repos++}`), ip: `127.2.${idx - seeders + 1}.1`, bootstrap: addrs, fair, rarestFirst, trading, superSeed }, 'started')))
    // CPU of every process (each asked through the first node it hosts)
    const firstOf = kids.map((_, k) => k < seeders ? k : seeders + (k - seeders) * per)
    const cpu = async (): Promise<number> => (await Promise.all(firstOf.map(async idx => (await ask<Extract<CrowdReply, { type: 'usage' }>>(host(idx), { cmd: 'usage', idx }, 'usage')).cpuSeconds))).reduce((a, b) => a + b, 0)
    const cpu0 = await cpu()
    const t0 = Date.now()
    const results = await Promise.all(downloaders.map(async idx => await ask<Extract<CrowdReply, { type: 'fetched' }>>(
      host(idx),
      { cmd: 'fetch', idx, cid, timeoutMs: Number(args['crowd-timeout']) * 1000 },
      'fetched'
    )))
    const seconds = (Math.max(...results.map(r => r.at)) - t0) / 1000
    const cpuSeconds = await cpu() - cpu0
    const sent = await Promise.all(Array.from({ length: seeders }, async (_, i) => (await ask<Extract<CrowdReply, { type: 'sent' }>>(
      host(i),
      { cmd: 'sent', idx: i },
      'sent'
    )).bytes))
    // verified bytes the downloaders got from seeders and from each other
    let fromSeeders = 0
    let fromPeers = 0
    for (const r of results) for (const [id, b] of Object.entries(r.sources ?? {})) { if (seederIds.has(id)) fromSeeders += b; else fromPeers += b }
    const duplicates = results.reduce((a, r) => a + (r.duplicates ?? 0), 0)
    const stolen = results.reduce((a, r) => a + (r.stolen ?? 0), 0)
    const completed = results.filter(r => r.ok).length
    const receivedTwice = completed === 0 ? 0 : (fromSeeders + fromPeers) / (size * completed) - 1
    // what crossed the network (framing too, and blocks dropped on arrival as already held or taken back)
    const wire = results.reduce((a, r) => a + (r.ok ? r.wireBytes ?? 0 : 0), 0)
    const wireTwice = completed === 0 ? 0 : wire / (size * completed) - 1
    return {
      ratios: sent.map(b => b / size),
      seconds,
      failed: crowdSize - completed,
      seederShare: fromSeeders / Math.max(1, fromSeeders + fromPeers),
      duplicates,
      stolen,
      receivedTwice,
      wireTwice,
      seedersAloneSeconds: crowdSize * size / (seeders * parseRate(String(args['seed-rate']))),
      cpuSeconds
    }
  } finally {
    await Promise.all(kids.map(async child => {
      if (child.exitCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.send({ cmd: 'shutdown' } satisfies CrowdCommand)
      await Promise.race([exited, sleep(10_000)])
      if (child.exitCode === null) child.kill('SIGKILL')
      children.delete(child)
    }))
  }
}

async function main (): Promise<void> {
  if (args['crowd-only'] === true) {
    const c = await crowd(true)
    printTable([{ seeders: Number(args.seeders), downloaders: Number(args.crowd), 'seeder ratios': c.ratios.map(r => r.toFixed(1)).join(' '), 'ratio std dev': stdDev(c.ratios).toFixed(2), 'from seeders': `${(c.seederShare * 100).toFixed(0)} %`, races: c.duplicates, steals: c.stolen, 'received twice': `${(c.receivedTwice * 100).toFixed(0)} %`, 'wire beyond one copy': `${(c.wireTwice * 100).toFixed(0)} %`, 'crowd s': c.seconds.toFixed(1), 'seeders-alone s': c.seedersAloneSeconds.toFixed(1), 'CPU s': c.cpuSeconds.toFixed(1), 'crowd failed': c.failed }], args.json === true, { ...c, seedRatioStdDev: stdDev(c.ratios) })
    return
  }
  const server = await start('127.0.0.1', { uploadLimit: parseRate(String(args.rate)) })
  const files: CID[] = []
  for (let i = 0; i < 16; i++) {
    const f = join(work, `f${i}`)
    writeFileSync(f, randomBytes(Math.round(Number(args['file-mb']) * 1e6)))
    files.push((await server.add(f)).cid)
  }
  const fair = await scenarios(true, files, server)
  const fifo = await scenarios(false, files, server)
  await stop([server])
  const crowdFair = await crowd(true)
  const crowdFifo = await crowd(false)
  const cap = DEFAULT_MAX_SHARE
  const row = (mode: string, s: typeof fair, c: typeof crowdFair): Record<string, unknown> => ({
    mode,
    jain: s.jain.toFixed(4),
    'max share 1 s': `${(s.maxShare * 100).toFixed(1)} %`,
    'sybil share (8 ids)': `${(s.sybilShare * 100).toFixed(1)} %`,
    'upload MB/s': s.mbps.toFixed(2),
    'seeder ratios': c.ratios.map(r => r.toFixed(1)).join(' '),
    'ratio std dev': stdDev(c.ratios).toFixed(2),
    'from seeders': `${(c.seederShare * 100).toFixed(0)} %`,
    'received twice': `${(c.receivedTwice * 100).toFixed(0)} %`,
    'wire beyond one copy': `${(c.wireTwice * 100).toFixed(0)} %`,
    'crowd s': c.seconds.toFixed(1),
    'seeders-alone s': c.seedersAloneSeconds.toFixed(1),
    'crowd failed': c.failed
  })
  printTable([row('fair (scheduler)', fair, crowdFair), row('FIFO (scheduler off)', fifo, crowdFifo)], args.json === true, {
    peers: Number(args.peers),
    rate: parseRate(String(args.rate)),
    seconds: Number(args.seconds),
    jain: fair.jain,
    maxShare: fair.maxShare,
    cap,
    sybilShare: fair.sybilShare,
    seedRatioStdDev: stdDev(crowdFair.ratios),
    seedRatios: crowdFair.ratios,
    crowd: {
      downloaders: Number(args.crowd),
      seeders: Number(args.seeders),
      seconds: crowdFair.seconds,
      failed: crowdFair.failed,
      seederShare: crowdFair.seederShare,
      duplicates: crowdFair.duplicates,
      stolen: crowdFair.stolen,
      receivedTwice: crowdFair.receivedTwice,
      wireTwice: crowdFair.wireTwice
    },
    fifo: {
      jain: fifo.jain,
      maxShare: fifo.maxShare,
      sybilShare: fifo.sybilShare,
      seedRatioStdDev: stdDev(crowdFifo.ratios),
      seedRatios: crowdFifo.ratios,
      crowdSeconds: crowdFifo.seconds,
      crowdFailed: crowdFifo.failed,
      crowdSeederShare: crowdFifo.seederShare,
      crowdReceivedTwice: crowdFifo.receivedTwice
    },
    goals: { jain: fair.jain >= 0.99, maxShare: fair.maxShare <= cap + 0.02 }
  })
}

try {
  await main()
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  await stop([...open])
  rmSync(work, { recursive: true, force: true })
}
