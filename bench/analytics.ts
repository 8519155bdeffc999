/**
 * What does analytics cost? `npm run bench:analytics [-- --mb 32 --seeders 4 --rate 25MB/s --rounds 9] [--json]`
 *
 * The swarm benchmark twice over, in one run: two sets of `cmesh daemon` seeders on loopback (one with analytics
 * on, the default; one with `{"analytics": {"enabled": false}}` in its policy.json), each seeder holding the same
 * --mb MiB random file and capped at --rate; a node in this process (analytics on or off to match) downloads it
 * from all of one set. Rounds interleave on and off (on first in odd rounds, off first in even ones) and the
 * medians are compared: wall time of the download, and CPU time of the leecher plus every seeder of the set
 * (from /proc) while it ran. overheadFraction is the CPU overhead: the median over rounds of CPU on / CPU off,
 * minus 1 (time likewise). The cost of counting alone is measured apart, in ns per count().
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MetricsStore } from '../src/analytics/counters.js'
import { countServed } from '../src/analytics/node-hooks.js'
import { importBytes } from '../src/dag/importer.js'
import { createStore } from '../src/store/index.js'
import { parseCid } from '../src/dag/cid.js'
import { createNode } from '../src/node/index.js'
import { parseRate } from '../src/policy/fairness/token-bucket.js'
import { noiseBench } from './analytics-noise.js'
import { CMESH_BIN, startDaemon, stopDaemons } from './daemons.js'
import { parseBenchArgs, printTable } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), { mb: 32, seeders: 4, rate: '25MB/s', rounds: 9, noise: false })
if (args.noise === true) {
  // the margins of a report, apart (fast, no daemons): bench/analytics-noise.ts
  await noiseBench(args)
  process.exit(0)
}
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-analytics-'))
const BIN = CMESH_BIN
const TICK = 100 // clock ticks a second in /proc/<pid>/stat (USER_HZ)

/** CPU seconds a process has used (user + system), from /proc. */
function procCpu (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICK
}

async function seeder (name: string, file: string, analytics: boolean): Promise<{ addr: string, pid: number }> {
  const repo = join(work, name)
  mkdirSync(repo, { recursive: true })
  if (!analytics) writeFileSync(join(repo, 'policy.json'), JSON.stringify({ analytics: { enabled: false } }))
  execFileSync(process.execPath, [BIN, 'add', file, '--repo', repo, '--quiet'])
  return await startDaemon(repo, ['--upload-limit', String(args.rate)])
}

interface Run { seconds: number, cpu: number, leecherCpu: number }

async function download (set: Array<{ addr: string, pid: number }>, cid: ReturnType<typeof parseCid>, analytics: boolean, name: string): Promise<Run> {
  const leecher = await createNode({
    repo: join(work, name),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    bootstrap: set.map(s => s.addr),
    analytics: { enabled: analytics }
  })
  try {
    const seeders0 = set.reduce((a, s) => a + procCpu(s.pid), 0)
    const cpu0 = process.cpuUsage()
    const r = await leecher.fetch(cid)
    const cpu = process.cpuUsage(cpu0)
    const seeders = set.reduce((a, s) => a + procCpu(s.pid), 0) - seeders0
    return { seconds: r.seconds, cpu: (cpu.user + cpu.system) / 1e6 + seeders, leecherCpu: (cpu.user + cpu.system) / 1e6 }
  } finally {
    await leecher.stop()
    rmSync(join(work, name), { recursive: true, force: true })
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/**
 * The cost of counting alone, measured precisely where the swarm runs cannot be: nanoseconds per
 * `metrics.count()` (a block served or received costs one).
 */
async function countingCost (): Promise<{ nsPerCount: number, msPerFlush: number, nsPerBlockServed: number }> {
  const repo = join(work, 'count-cost')
  const m = new MetricsStore(repo)
  const n = 2_000_000
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) m.count('bytes.served', 1024)
  const nsPerCount = Number(process.hrtime.bigint() - t0) / n
  // a flush as a busy node makes one every 5 s: a dozen counters and gauges, one transaction
  const flushes: number[] = []
  for (let i = 0; i < 50; i++) {
    for (const name of [
      'bytes.served',
      'bytes.received.peer',
      'resources.fetched',
      'errors',
      'uptime.seconds',
      'cache.hits',
      'cache.misses',
      'external.bytes',
      'external.bytes.saved',
      'bytes.received.mirror'
    ]) m.count(name, 1000)
    m.gauge('peers.seen', 5)
    m.gauge('segment.peers', 3)
    const f0 = performance.now()
    await m.flush()
    flushes.push(performance.now() - f0)
  }
  await m.close()
  return { nsPerCount, msPerFlush: median(flushes), nsPerBlockServed: await servingCost() }
}

/**
 * What the block service's counting view of the store adds to serving one block: has() and getSync() through it
 * (analytics on) against the store itself (off), over the same blocks: the median of 11 paired differences.
 */
async function servingCost (): Promise<number> {
  const store = createStore({ repo: join(work, 'serve-cost') })
  try {
    await importBytes(store, randomBytes(8 << 20))
    const cids = [...store.entries()].map(b => b.cid)
    const m = new MetricsStore(join(work, 'serve-cost-metrics'))
    const onView = countServed(store, m)
    const serve = async (view: Pick<typeof store, 'has' | 'getSync'>): Promise<number> => {
      const t0 = process.hrtime.bigint()
      for (let r = 0; r < 20; r++) for (const c of cids) if (await view.has(c)) view.getSync(c)
      return Number(process.hrtime.bigint() - t0) / (20 * cids.length)
    }
    const differences: number[] = []
    for (let i = 0; i < 11; i++) {
      const off = await serve(store)
      differences.push(await serve(onView) - off)
    }
    await m.close()
    return median(differences)
  } finally {
    await store.close()
  }
}

try {
  const mb = Number(args.mb)
  const count = Number(args.seeders)
  const rounds = Number(args.rounds)
  const file = join(work, 'data.bin')
  const fd = openSync(file, 'w')
  for (let i = 0; i < mb; i++) writeSync(fd, randomBytes(1 << 20))
  closeSync(fd)
  const on: Array<{ addr: string, pid: number }> = []
  const off: Array<{ addr: string, pid: number }> = []
  for (let i = 0; i < count; i++) {
    on.push(await seeder(`on-${i}`, file, true))
    off.push(await seeder(`off-${i}`, file, false))
  }
  const cid = parseCid(execFileSync(process.execPath, [BIN, 'add', file, '--repo', join(work, 'on-0'), '--quiet'], { encoding: 'utf8' }).trim())
  // unmeasured downloads each way first: JIT in every process, page cache
  for (let i = 0; i < 2; i++) {
    await download(on, cid, true, `warm-on-${i}`)
    await download(off, cid, false, `warm-off-${i}`)
  }
  const runs = { on: [] as Run[], off: [] as Run[] }
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? ['on', 'off'] as const : ['off', 'on'] as const
    for (const which of order) runs[which].push(await download(which === 'on' ? on : off, cid, which === 'on', `leecher-${which}-${i}`))
  }
  // background: what each set's daemons use while nothing is asked of them (timers, gossip heartbeats)
  const idle = async (set: Array<{ pid: number }>): Promise<number> => {
    const c0 = set.reduce((a, d) => a + procCpu(d.pid), 0)
    await new Promise(resolve => setTimeout(resolve, 10_000))
    return (set.reduce((a, d) => a + procCpu(d.pid), 0) - c0) / set.length / 10
  }
  const idleOn = await idle(on)
  const idleOff = await idle(off)
  const m = {
    on: { seconds: median(runs.on.map(r => r.seconds)), cpu: median(runs.on.map(r => r.cpu)) },
    off: { seconds: median(runs.off.map(r => r.seconds)), cpu: median(runs.off.map(r => r.cpu)) }
  }
  const cost = await countingCost()
  // every block moved is counted once where it is served; a download adds a few counts
  const blocks = (JSON.parse(execFileSync(
    process.execPath,
    [BIN, 'stat', '--repo', join(work, 'off-0'), '--json'],
    { encoding: 'utf8' }
  )) as { blocks: number }).blocks
  const counts = blocks + 10
  const countingFraction = counts * cost.nsPerCount / 1e9 / m.off.cpu
  // the work analytics adds to one download, from its parts: every block served through the counting view, a
  // flush every 5 s on each of the 1 + seeders nodes, a count per download
  const counting = (blocks * Math.max(0, cost.nsPerBlockServed) + 10 * cost.nsPerCount) / 1e9
  const addedSeconds = counting + (1 + count) * Math.ceil(m.on.seconds / 5) * cost.msPerFlush / 1e3
  const boundFraction = addedSeconds / m.off.cpu
  // each round's on and off ran back to back: the median of their ratios cancels the machine's drift
  const cpuOverhead = median(runs.on.map((r, i) => r.cpu / runs.off[i]!.cpu)) - 1
  const timeOverhead = median(runs.on.map((r, i) => r.seconds / runs.off[i]!.seconds)) - 1
  const pct = (x: number): string => `${(100 * x).toFixed(1)} %`
  printTable([
    { run: `analytics off: ${count} seeders at ${String(args.rate)} -> 1`, 'median s': m.off.seconds.toFixed(2), 'MB/s': (mb * 1.048576 / m.off.seconds).toFixed(1), 'median CPU s': m.off.cpu.toFixed(2), 'runs (s)': runs.off.map(r => r.seconds.toFixed(2)).join(' '), overhead: '' },
    { run: `analytics on: ${count} seeders at ${String(args.rate)} -> 1`, 'median s': m.on.seconds.toFixed(2), 'MB/s': (mb * 1.048576 / m.on.seconds).toFixed(1), 'median CPU s': m.on.cpu.toFixed(2), 'runs (s)': runs.on.map(r => r.seconds.toFixed(2)).join(' '), overhead: `CPU ${pct(cpuOverhead)}, time ${pct(timeOverhead)}` },
    { run: `counting alone: ${cost.nsPerCount.toFixed(0)} ns a count(), ~${counts.toFixed(0)} counts a download`, 'median s': '', 'MB/s': '', 'median CPU s': (counts * cost.nsPerCount / 1e9).toFixed(4), 'runs (s)': '', overhead: `CPU ${pct(countingFraction)} of a download` },
    { run: `serving a block through the counting view: +${cost.nsPerBlockServed.toFixed(0)} ns`, 'median s': '', 'MB/s': '', 'median CPU s': (addedSeconds).toFixed(4), 'runs (s)': '', overhead: `CPU ${pct(boundFraction)} of a download, all parts added up` },
    { run: `an idle daemon, CPU s a second: on ${idleOn.toFixed(4)}, off ${idleOff.toFixed(4)}`, 'median s': '', 'MB/s': '', 'median CPU s': '', 'runs (s)': '', overhead: `${pct(idleOn - idleOff)} of one core` },
    { run: `a flush of the counters (every 5 s): ${cost.msPerFlush.toFixed(2)} ms`, 'median s': '', 'MB/s': '', 'median CPU s': '', 'runs (s)': '', overhead: `${pct(cost.msPerFlush / 5000)} of one core` }
  ], args.json === true, {
    mb,
    seeders: count,
    ratePerSeeder: parseRate(String(args.rate)),
    rounds,
    overheadFraction: cpuOverhead,
    cpuOverheadFraction: cpuOverhead,
    timeOverheadFraction: timeOverhead,
    nsPerCount: cost.nsPerCount,
    nsPerBlockServed: cost.nsPerBlockServed,
    componentOverheadFraction: boundFraction,
    msPerFlush: cost.msPerFlush,
    idleCpuOn: idleOn,
    idleCpuOff: idleOff,
    flushCoreFraction: cost.msPerFlush / 5000,
    countingOverheadFraction: countingFraction,
    medianSecondsOn: m.on.seconds,
    medianSecondsOff: m.off.seconds,
    medianCpuSecondsOn: m.on.cpu,
    medianCpuSecondsOff: m.off.cpu,
    cpuSecondsOn: runs.on.map(r => r.cpu),
    cpuSecondsOff: runs.off.map(r => r.cpu),
    leecherCpuSecondsOn: runs.on.map(r => r.leecherCpu),
    leecherCpuSecondsOff: runs.off.map(r => r.leecherCpu),
    secondsOn: runs.on.map(r => r.seconds),
    secondsOff: runs.off.map(r => r.seconds)
  })
} finally {
  await stopDaemons()
  rmSync(work, { recursive: true, force: true })
}
