/**
 * A cold download measured as a user sees it: `npm run bench:cold [-- --mb 32 --seeders 8 --rate 2MB/s --runs 3 --json]`
 *
 * Each run starts --seeders fresh `cmesh daemon` processes on loopback (each with --upload-limit --rate, each
 * holding the same --mb MiB random file, none knowing another), then times a fresh `cmesh fetch` command (a
 * process of its own, a new repository, `--bootstrap` naming the seeders) from its start to its exit: first naming
 * one seeder, then all of them. The time includes everything the command does: loading, creating its node,
 * dialling, the download, and stopping. The speedup is the ratio of the two; the ideal is the number of seeders
 * (the file over their summed rate, plus the command's own start). Fresh seeders each run: once a download has
 * introduced them, peer exchange has them meet, and the next download would be a warm one (bench:swarm's).
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseRate } from '../src/policy/fairness/token-bucket.js'
import { CMESH_BIN, startDaemon, stopDaemons } from './daemons.js'
import { parseBenchArgs, printTable } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), { mb: 32, seeders: 8, rate: '2MB/s', runs: 3 })
const BIN = CMESH_BIN
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-cold-'))

/** A seeder: `cmesh add` of `file` into a new repository (a new identity), then its daemon; resolves to its address. */
async function seeder (repo: string, file: string): Promise<string> {
  execFileSync(process.execPath, [BIN, 'add', file, '--repo', repo, '--quiet'])
  return (await startDaemon(repo, ['--upload-limit', String(args.rate)])).addr
}

/** `cmesh fetch` in a process of its own, timed from spawn to exit; with what it reported. */
async function fetchCommand (repo: string, cid: string, seeders: string[]): Promise<{ seconds: number, fetchSeconds: number, sources: number }> {
  const t0 = performance.now()
  const child = spawn(process.execPath, [BIN, 'fetch', cid, '--repo', repo, '--no-mdns', '--json', ...seeders.flatMap(a => ['--bootstrap', a])], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  const seconds = (performance.now() - t0) / 1000
  if (code !== 0) throw new Error(`cmesh fetch exited with ${code}`)
  const r = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number, sources: Record<string, number> }
  return { seconds, fetchSeconds: r.seconds, sources: Object.keys(r.sources).length }
}

try {
  const mb = Number(args.mb)
  const count = Number(args.seeders)
  const runs = Number(args.runs)
  const rate = parseRate(String(args.rate))
  const file = join(work, 'data.bin')
  const fd = openSync(file, 'w')
  for (let i = 0; i < mb; i++) writeSync(fd, randomBytes(1 << 20))
  closeSync(fd)
  const cid = execFileSync(process.execPath, [BIN, 'add', file, '--repo', join(work, 'cid'), '--quiet'], { encoding: 'utf8' }).trim()

  const rows: Array<Record<string, string | number>> = []
  const results: Array<{ load: number, one: number, many: number, oneFetch: number, manyFetch: number, speedup: number, sources: number }> = []
  for (let run = 1; run <= runs; run++) {
    const load = loadavg()[0]!
    const addrs: string[] = []
    for (let i = 0; i < count; i++) addrs.push(await seeder(join(work, `run${run}-seeder${i}`), file))
    const one = await fetchCommand(join(work, `run${run}-leecher-1`), cid, addrs.slice(0, 1))
    const many = await fetchCommand(join(work, `run${run}-leecher-${count}`), cid, addrs)
    await stopDaemons()
    const speedup = one.seconds / many.seconds
    results.push({ load, one: one.seconds, many: many.seconds, oneFetch: one.fetchSeconds, manyFetch: many.fetchSeconds, speedup, sources: many.sources })
    rows.push({
      run,
      'load (1 min)': load.toFixed(2),
      '1 seeder: command s (fetch s)': `${one.seconds.toFixed(2)} (${one.fetchSeconds.toFixed(2)})`,
      [`${count} seeders: command s (fetch s)`]: `${many.seconds.toFixed(2)} (${many.fetchSeconds.toFixed(2)})`,
      sources: many.sources,
      speedup: `${speedup.toFixed(2)}x`
    })
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const ideal = mb * 1.048576 / (count * rate / 1e6)
  rows.push({
    run: 'median',
    'load (1 min)': '',
    '1 seeder: command s (fetch s)': median(results.map(r => r.one)).toFixed(2),
    [`${count} seeders: command s (fetch s)`]: `${median(results.map(r => r.many)).toFixed(2)} (ideal transfer ${ideal.toFixed(2)})`,
    sources: '',
    speedup: `${median(results.map(r => r.speedup)).toFixed(2)}x (ideal ${count}x)`
  })
  printTable(rows, args.json === true, { mb, seeders: count, ratePerSeeder: rate, runs: results, medianSpeedup: median(results.map(r => r.speedup)) })
} finally {
  await stopDaemons()
  rmSync(work, { recursive: true, force: true })
}
