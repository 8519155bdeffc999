/**
 * `npm test`'s runner: every compiled test file (dist/test/**\/*.test.js), the slowest first, `--concurrency` at a
 * time (default 4). `node --test` sorts the files it is given by path whatever their order on its command line, so
 * a file that takes a minute could start last and hold the suite up alone; here the files of SLOWEST_FIRST start
 * first, the others follow in path order. Exits non-zero when any test fails (or a file listed below is gone).
 * `--list` prints the files in the order they would start.
 *
 * Temp dirs (repositories, LMDB stores, files to import) go to a directory of this run on /dev/shm, a tmpfs, when
 * it is there and TMPDIR is not set: on the ext4 disk of the 2-core test machine, creating 3,300 small files took
 * 1.9 CPU seconds and 4.3 s (0.1 and 0.4 s on tmpfs), and every LMDB commit waits for its fsync. A test's process
 * and the processes it starts (daemons, CLI commands) see the same TMPDIR; a killed process loses nothing a
 * SIGKILL on a disk would keep (the page cache is the same), a power cut is not what any test simulates.
 */
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { run } from 'node:test'
import { spec as Spec, tap } from 'node:test/reporters'
import { parseArgs } from 'node:util'

/**
 * Files by their time in the suite, longest first (seconds under c8, 4 files at a time on the 2-core test machine,
 * from when each file's coverage was written in a CI run: most of it networks, rate limits and CPU shared with the
 * other three): started first, they overlap with the rest instead of running after it, and the files that run
 * last, when fewer than four are left, are short ones. Paths relative to dist/test, without the extension.
 */
const SLOWEST_FIRST = [
  'node/node',
  'sync/fairness',
  'node/segments-restart',
  'analytics/privacy',
  'cli/daemon',
  'dag/import-export',
  'cli/release',
  'dag/archive',
  'sync/bitswap/bitswap',
  'policy/fairness/segments',
  'cli/collections',
  'node/subnets-nat',
  'dag/archive-recipe',
  'sync/fetch/range-mirror',
  'store/crash',
  'sync/cache/url-cache',
  'sync/exchange/buffer-budget',
  'cli/commands',
  'sync/collections/collections',
  'sync/routing/dht',
  'cli/report',
  'dag/format',
  'sync/simulation',
  'analytics/secure-rounds',
  'cli/get-url',
  'sync/exchange/compression',
  'cli/cli',
  'analytics/network',
  'sync/exchange/channel',
  'daemon/client',
  'sync/releases/releases',
  'sync/http/verified-fetch',
  'sync/delta/delta-fetch',
  'dag/memory'
]

/** Free space /dev/shm needs for the suite's temp dirs to go there (the largest test files and stores fit many times over). */
const MIN_SHM_FREE = 2 * 1024 ** 3

/** The test files under `dir`, by path. */
function testFiles (dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.test.js')) out.push(p)
    }
  }
  walk(dir)
  return out.sort()
}

/** `all` with the files of `first` (relative to `dir`, no extension) moved to the front, in that order. */
function suiteOrder (dir: string, all: string[], first: string[]): string[] {
  const head = first.map(f => join(dir, `${f}.test.js`))
  const missing = head.filter(f => !all.includes(f))
  if (missing.length > 0) throw new Error(`run-suite: SLOWEST_FIRST names files that do not exist: ${missing.map(f => relative(dir, f)).join(', ')}`)
  return [...head, ...all.filter(f => !head.includes(f))]
}

const { values } = parseArgs({ options: { concurrency: { type: 'string', default: '4' }, list: { type: 'boolean' } } })
const dir = import.meta.dirname
const files = suiteOrder(dir, testFiles(dir), SLOWEST_FIRST)
if (values.list === true) {
  for (const f of files) console.log(relative(process.cwd(), f))
  process.exit(0)
}
if (process.env.TMPDIR === undefined) {
  let shm: string | undefined
  try {
    accessSync('/dev/shm', constants.W_OK)
    // a container's /dev/shm is often 64 MB: only a tmpfs with room for the suite's stores is used
    const { bavail, bsize } = statfsSync('/dev/shm')
    if (bavail * bsize >= MIN_SHM_FREE) shm = mkdtempSync('/dev/shm/cmesh-suite-')
  } catch {} // no tmpfs: the system's temp dir
  if (shm !== undefined) {
    process.env.TMPDIR = shm
    process.once('exit', () => { rmSync(shm, { recursive: true, force: true }) })
  }
}
// the `cmesh` commands the tests start run dist/src's modules, not their bundle, so c8 counts what they exercise
// (test/cli/bundle.test.ts runs the bundle)
process.env.CMESH_NO_BUNDLE ??= '1'
const stream = run({ files, concurrency: Number(values.concurrency) })
stream.on('test:fail', () => { process.exitCode = 1 })
// the reporter node --test picks: spec on a terminal, TAP otherwise
stream.compose(process.stdout.isTTY ? new Spec() : tap).pipe(process.stdout)
