/**
 * Does the swarm trade? `npm run bench:crowd [-- --downloaders 50 --seeders 1,5 --size-mb 2 --seeder-up 1MB/s
 * --downloader-up 256KB/s --downloader-down 2MB/s --free-riders 1 --modes before,trading --super-seed off|on --timeout 300
 * --quick --json]`
 *
 * A flash crowd: `--downloaders` nodes fetch one new `--size-mb` MB file of random bytes at once from S seeders
 * (each S of `--seeders` is a run) and from each other. Every node runs in a child process of its own
 * (bench/crowd-node.ts), so the nodes share the cores rather than one event loop, and every link is capped like a
 * home line: a seeder uploads at most `--seeder-up`, a downloader at most `--downloader-up` (the upload scheduler's
 * token bucket, createNode's uploadLimit) and reads at most `--downloader-down` (bench/download-throttle.ts: the
 * process's TCP reads are paced, so TCP slows whoever sends). The caps keep the whole swarm's traffic well below
 * what the machine can carry, so the run measures the protocol, not the two cores. `--free-riders` of the
 * downloaders upload nothing (they answer every want with dont-have).
 *
 * Modes: "before" is a node with today's defaults; "trading" turns on what the swarm has for trading (the
 * holdings protocol, createNode's `trading`: summaries and batched haves among downloaders, claimed holders asked
 * first, rarest first by what they said; rarest-first by have questions stays off); `--super-seed on` adds
 * super-seeding to it (a seeder sends each leaf about once, createNode's `superSeed`). Each S runs every mode with the same processes
 * (fresh nodes and repos).
 *
 * Columns: seconds from the start of the fetches to the first, median and last completed download; the
 * seeders-alone bound N x size / (seeders' total upload); the ideal swarm bound, the classic lower bound on a
 * peer-to-peer distribution time (Kumar and Ross, 2006), with u_s the seeders' total upload, u_i downloader i's
 * upload and d_min the slowest download:
 *     max(size / u_s, size / d_min, N x size / (u_s + sum u_i))
 * (the seeders must send every byte once, the slowest downloader must receive one copy, and all N copies must be
 * uploaded by someone); copies uploaded by the seeders (bytes they sent / size); the share of the bytes downloaders
 * verified that came from other downloaders; the share of bytes that reached a downloader's wire and were not
 * stored (arrived twice, or were taken back; framing counts too, under 0.1 %); the free-rider's completion time
 * over the contributors' median; CPU seconds of all node processes during the downloads; the 1-minute load average
 * when the run ended (the machine is shared).
 * `--quick` is a smoke-sized run (6 downloaders, 0.25 MB, one seeder). `--json` prints, last, one line
 * {"runs": [{seeders, downloaders, mode, seederCopies, fromDownloadersShare, firstSeconds, medianSeconds,
 * lastSeconds, idealSeconds, seedersAloneSeconds, twiceShare, freeRiderRatio, cpuSeconds}, ...]}.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseRate } from '../src/policy/fairness/token-bucket.js'
import type { CrowdCommand, CrowdReply } from './crowd-node.js'
import { parseBenchArgs, printTable } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), {
  downloaders: 50,
  seeders: '1,5',
  'size-mb': 2,
  'seeder-up': '1MB/s',
  'downloader-up': '256KB/s',
  'downloader-down': '2MB/s',
  'free-riders': 1,
  modes: 'before,trading',
  'super-seed': 'off',
  timeout: 300,
  quick: false,
  json: false
})
if (args.quick === true) {
  args.downloaders = 6
  args.seeders = '1'
  args['size-mb'] = 0.25
}

export type Mode = 'before' | 'trading'

/** What a node of each mode is started with. */
function modeOptions (mode: Mode): { rarestFirst: boolean, trading: boolean, superSeed: boolean } {
  return mode === 'trading'
    ? { rarestFirst: false, trading: true, superSeed: args['super-seed'] === 'on' }
    : { rarestFirst: false, trading: false, superSeed: false }
}

interface Run {
  seeders: number
  downloaders: number
  mode: Mode
  seederCopies: number
  fromDownloadersShare: number
  firstSeconds: number | null
  medianSeconds: number | null
  lastSeconds: number | null
  idealSeconds: number
  seedersAloneSeconds: number
  twiceShare: number
  freeRiderRatio: number | null
  cpuSeconds: number
}

const CHILD = fileURLToPath(new URL('./crowd-node.js', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-crowd-'))
const children: ChildProcess[] = []
let repos = 0

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

function spawn (): ChildProcess {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.push(child)
  return child
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function loadAverage (): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!
  } catch {
    return '?'
  }
}

/** Each seeder (by its number) and each downloader (by its number) listens and dials on an address of its own. */
const seederIp = (i: number): string => `127.1.${i + 1}.1`
const downloaderIp = (k: number): string => `127.2.${k + 1}.1`

/** Downloaders started (and connected) at a time before a run. */
const START_WAVE = 5

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)

/**
 * One run: S seeders (processes `seedProcs`) and the downloaders (processes `downProcs`, the last `freeRiders` of
 * them upload nothing) with fresh nodes; all nodes are stopped at the end, the processes stay for the next run.
 */
async function run (
  mode: Mode,
  s: number,
  seedProcs: ChildProcess[],
  downProcs: ChildProcess[],
  file: string,
  size: number
): Promise<Run & { failed: number, load: string }> {
  const n = downProcs.length
  const freeRiders = Math.min(n, Number(args['free-riders']))
  const seederUp = parseRate(String(args['seeder-up']))
  const downloaderUp = parseRate(String(args['downloader-up']))
  const downloaderDown = parseRate(String(args['downloader-down']))
  const opts = modeOptions(mode)
  // indexes: seeders 0..s-1, downloaders s..s+n-1; each index has a process of its own
  const proc = (idx: number): ChildProcess => idx < s ? seedProcs[idx]! : downProcs[idx - s]!
  const all = Array.from({ length: s + n }, (_, i) => i)
  try {
    const addrs: string[] = []
    const seederIds = new Set<string>()
    let cid = ''
    for (let i = 0; i < s; i++) {
      const r = await ask<Extract<CrowdReply, { type: 'started' }>>(proc(i), {
        cmd: 'start', idx: i, repo: join(work, `n${repos++}`), ip: seederIp(i), bootstrap: [], uploadLimit: seederUp, fair: true, ...opts
      }, 'started')
      addrs.push(r.addrs[0]!)
      seederIds.add(r.peerId)
      cid = (await ask<Extract<CrowdReply, { type: 'added' }>>(proc(i), { cmd: 'add', idx: i, path: file }, 'added')).cid
    }
    const downloaders = Array.from({ length: n }, (_, k) => s + k)
    const isFreeRider = (idx: number): boolean => idx >= s + n - freeRiders
    // a free-rider's upload limit does not matter: it sends nothing
    // in waves, each connected before the next starts: fifty handshakes at once starve a seeder on a busy machine
    for (let w = 0; w < downloaders.length; w += START_WAVE) {
      await Promise.all(downloaders.slice(w, w + START_WAVE).map(async idx => await ask(proc(idx), {
        cmd: 'start',
        idx,
        repo: join(work, `n${repos++}`),
        ip: downloaderIp(idx - s),
        bootstrap: addrs,
        uploadLimit: downloaderUp,
        fair: true,
        freeRider: isFreeRider(idx),
        waitConnected: true,
        ...opts
      }, 'started')))
    }
    const cpu = async (): Promise<number> => sum(await Promise.all(all.map(async idx => (await ask<Extract<CrowdReply, { type: 'usage' }>>(proc(idx), { cmd: 'usage', idx }, 'usage')).cpuSeconds)))
    const cpu0 = await cpu()
    const t0 = Date.now()
    const results = await Promise.all(downloaders.map(async idx => await ask<Extract<CrowdReply, { type: 'fetched' }>>(
      proc(idx),
      { cmd: 'fetch', idx, cid, timeoutMs: Number(args.timeout) * 1000 },
      'fetched',
      Number(args.timeout) * 1000 + 60_000
    )))
    const cpuSeconds = await cpu() - cpu0
    const errors = new Map<string, number>()
    for (const r of results) if (!r.ok) errors.set(r.error ?? '?', (errors.get(r.error ?? '?') ?? 0) + 1)
    for (const [e, k] of errors) console.error(`${mode}, ${s} seeder(s): ${k} download(s) failed: ${e}`)
    const sent = await Promise.all(Array.from({ length: s }, async (_, i) => (await ask<Extract<CrowdReply, { type: 'sent' }>>(proc(i), { cmd: 'sent', idx: i }, 'sent')).bytes))
    let fromSeeders = 0
    let fromPeers = 0
    for (const r of results) for (const [id, b] of Object.entries(r.sources ?? {})) { if (seederIds.has(id)) fromSeeders += b; else fromPeers += b }
    const done = results.map((r, k) => ({ r, idx: downloaders[k]! })).filter(x => x.r.ok)
    const times = done.map(x => (x.r.at - t0) / 1000)
    const contributors = done.filter(x => !isFreeRider(x.idx)).map(x => (x.r.at - t0) / 1000)
    const riders = done.filter(x => isFreeRider(x.idx)).map(x => (x.r.at - t0) / 1000)
    const wire = sum(done.map(x => x.r.wireBytes ?? 0))
    const stored = sum(done.map(x => x.r.fetchedBytes ?? 0))
    const contributorMedian = median(contributors)
    const uploadTotal = seederUp * s + downloaderUp * (n - freeRiders)
    return {
      seeders: s,
      downloaders: n,
      mode,
      seederCopies: sum(sent) / size,
      fromDownloadersShare: fromPeers / Math.max(1, fromSeeders + fromPeers),
      firstSeconds: times.length === 0 ? null : Math.min(...times),
      medianSeconds: median(times),
      lastSeconds: times.length === 0 ? null : Math.max(...times),
      idealSeconds: Math.max(size / (seederUp * s), size / downloaderDown, n * size / uploadTotal),
      seedersAloneSeconds: n * size / (seederUp * s),
      twiceShare: wire === 0 ? 0 : Math.max(0, wire - stored) / wire,
      freeRiderRatio: riders.length === 0 || contributorMedian === null || contributorMedian === 0 ? null : (median(riders) ?? 0) / contributorMedian,
      cpuSeconds,
      failed: n - done.length,
      load: loadAverage()
    }
  } finally {
    await Promise.all(all.map(async idx => await ask(proc(idx), { cmd: 'stop', idx }, 'stopped', 30_000).catch(() => {})))
  }
}

async function main (): Promise<void> {
  const n = Number(args.downloaders)
  const seederCounts = String(args.seeders).split(',').map(Number)
  const modes = String(args.modes).split(',') as Mode[]
  for (const m of modes) if (m !== 'before' && m !== 'trading') throw new Error(`unknown mode ${m}: before or trading`)
  const size = Math.round(Number(args['size-mb']) * 1e6)
  const file = join(work, 'file')
  writeFileSync(file, randomBytes(size))
  const downloadRate = parseRate(String(args['downloader-down']))
  const seedProcs = Array.from({ length: Math.max(...seederCounts) }, () => spawn())
  const downProcs = Array.from({ length: n }, () => spawn())
  // each downloader's process reads at most --downloader-down (the cap is the process's), and every process dials
  // from its node's address, so peers see fifty downloaders, not one host
  await Promise.all([
    ...seedProcs.map(async (p, i) => await ask(p, { cmd: 'setup', idx: i, sourceIp: seederIp(i) }, 'ready')),
    ...downProcs.map(async (p, k) => await ask(p, { cmd: 'setup', idx: k, downloadLimit: downloadRate, sourceIp: downloaderIp(k) }, 'ready'))
  ])
  const runs: Array<Awaited<ReturnType<typeof run>>> = []
  for (const s of seederCounts) {
    for (const mode of modes) {
      runs.push(await run(mode, s, seedProcs, downProcs, file, size))
      // each run as it ends, so a long run that is stopped still leaves its figures
      if (args.json !== true) console.error(`done: ${JSON.stringify(runs[runs.length - 1])}`)
    }
  }
  const f = (x: number | null, d = 1): string => x === null ? '-' : x.toFixed(d)
  const pct = (x: number): string => `${(x * 100).toFixed(0)} %`
  printTable(runs.map(r => ({
    seeders: r.seeders,
    downloaders: r.downloaders,
    mode: r.mode,
    'first s': f(r.firstSeconds),
    'median s': f(r.medianSeconds),
    'last s': f(r.lastSeconds),
    'seeders-alone s': f(r.seedersAloneSeconds),
    'ideal s': f(r.idealSeconds),
    'seeder copies': f(r.seederCopies, 2),
    'from downloaders': pct(r.fromDownloadersShare),
    'arrived twice': pct(r.twiceShare),
    'free-rider / median': f(r.freeRiderRatio, 2),
    'CPU s': f(r.cpuSeconds),
    failed: r.failed,
    load: r.load
  })), args.json === true, {
    runs: runs.map(r => ({
      seeders: r.seeders,
      downloaders: r.downloaders,
      mode: r.mode,
      seederCopies: r.seederCopies,
      fromDownloadersShare: r.fromDownloadersShare,
      firstSeconds: r.firstSeconds,
      medianSeconds: r.medianSeconds,
      lastSeconds: r.lastSeconds,
      idealSeconds: r.idealSeconds,
      seedersAloneSeconds: r.seedersAloneSeconds,
      twiceShare: r.twiceShare,
      freeRiderRatio: r.freeRiderRatio,
      cpuSeconds: r.cpuSeconds
    }))
  })
}

try {
  await main()
} finally {
  await Promise.all(children.map(async child => {
    if (child.exitCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.send({ cmd: 'shutdown' } satisfies CrowdCommand)
    await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 10_000))])
    if (child.exitCode === null) child.kill('SIGKILL')
  }))
  rmSync(work, { recursive: true, force: true })
}
