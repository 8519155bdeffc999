/**
 * How long does a `cmesh` command take to start? `npm run bench:startup [-- --runs 15] [--json]`
 * Runs `cmesh stat` on an empty repository and `cmesh cat` of a 1 KB file, each as a new process the way a user
 * runs it (`node bin/cmesh.js`), beside `node -e 0` (Node's own start-up), and prints the median, fastest and
 * slowest wall time of each. The machine's load average is printed with the figures: they mean little on a busy one.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { importBytes } from '../src/dag/importer.js'
import { createStore } from '../src/store/index.js'
import { printTable, parseBenchArgs } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), { runs: 11 })
const runs = Number(args.runs)
const bin = fileURLToPath(new URL('../../bin/cmesh.js', import.meta.url))

/** Wall milliseconds of one run of node with `argv`; throws if it fails. */
function once (argv: string[]): number {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`node ${argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.toString()}`)
  return ms
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const dir = mkdtempSync(join(tmpdir(), 'cmesh-startup-'))
try {
  const empty = join(dir, 'empty')
  const repo = join(dir, 'repo')
  const store = createStore({ repo })
  const { cid } = await importBytes(store, new TextEncoder().encode('a small file\n'.repeat(80)))
  await store.close()
  once([bin, 'stat', '--repo', empty]) // creates the empty repository (and warms the disk cache) before timing

  const cases: Array<{ what: string, key: string, argv: string[] }> = [
    { what: 'node -e 0', key: 'node', argv: ['-e', '0'] },
    { what: 'cmesh stat (empty repo)', key: 'stat', argv: [bin, 'stat', '--repo', empty] },
    { what: 'cmesh cat (1 KB file)', key: 'cat', argv: [bin, 'cat', cid.toString(), '--repo', repo] }
  ]
  const times = new Map(cases.map(c => [c.key, [] as number[]]))
  // interleaved, so a burst of load elsewhere falls on every case alike
  for (let r = 0; r < runs; r++) for (const c of cases) times.get(c.key)!.push(once(c.argv))

  const load = loadavg().map(l => Number(l.toFixed(2)))
  const rows = cases.map(c => {
    const t = times.get(c.key)!
    return { what: c.what, medianMs: Math.round(median(t)), minMs: Math.round(Math.min(...t)), maxMs: Math.round(Math.max(...t)), runs }
  })
  const result: Record<string, unknown> = { runs, loadavg: load }
  for (const c of cases) result[`${c.key}MedianMs`] = Number(median(times.get(c.key)!).toFixed(1))
  if (args.json !== true) console.log(`load average ${load.join(' ')}`)
  printTable(rows, args.json === true, result)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
