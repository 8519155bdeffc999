/**
 * How fast does cmesh ingest, next to Helia's importer? `npm run bench:ingest [-- --mb 256 --tree DIR --rss-mb 1024 --json]`
 *
 * Each run happens in a fresh child process (so peak RSS belongs to that run alone) on the same data:
 *   cmesh      importPath into LMDB (BLAKE3, FastCDC defaults), in cmesh's own format and as UnixFS (format: 'unixfs')
 *   importer   ipfs-unixfs-importer with its defaults (SHA-256, fixed 256 KiB chunks) into blockstore-fs / memory
 * Datasets: a random file of --mb MiB, a real unpacked package tree (--tree, default node_modules/typescript),
 * and a --rss-mb MiB random file imported by cmesh alone to check peak RSS; then, by cmesh alone, content that
 * repeats, whose peak RSS must match random data's: --zeros-mb MiB of zeros and a --sparse-mb MiB sparse file
 * (SPARSE_ISLANDS islands of random data, holes elsewhere), both made with truncate, so nothing is written but the islands.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, createReadStream, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseBenchArgs, printTable } from './report.js'

/** The V8 flags the cmesh command runs with (bin/cmesh.js), so each run here is measured as `cmesh add` would run. */
const CMESH_NODE_FLAGS = ['--max-semi-space-size=2']

interface RunResult { seconds: number, bytes: number, blocks: number, maxRssMB: number, maxAnonMB: number, maxFileMB: number }

/** Peak anonymous and file-backed resident memory, sampled: LMDB's map pages count as file-backed. */
function sampleRss (): { stop: () => { anon: number, file: number } } {
  const peak = { anon: 0, file: 0 }
  const read = (): void => {
    const status = readFileSync('/proc/self/status', 'utf8')
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
    peak.anon = Math.max(peak.anon, kb('RssAnon') / 1024)
    peak.file = Math.max(peak.file, kb('RssFile') / 1024)
  }
  const timer = setInterval(read, 20)
  return { stop: () => { clearInterval(timer); read(); return peak } }
}

async function child (job: string, path: string, dir: string): Promise<void> {
  // modules load before the clock starts: the runs compare importing, not module loading
  const { createStore } = await import('../src/store/index.js')
  const { importPath } = await import('../src/dag/importer.js')
  const { importer } = await import('ipfs-unixfs-importer')
  const { FsBlockstore } = await import('blockstore-fs')
  const { MemoryBlockstore } = await import('blockstore-core')
  const sampler = sampleRss()
  const t0 = process.hrtime.bigint()
  let bytes = 0
  let blocks = 0
  if (job === 'cmesh' || job === 'cmesh-unixfs') {
    const store = createStore({ repo: dir })
    const r = await importPath(store, path, { format: job === 'cmesh-unixfs' ? 'unixfs' : 'cmesh' })
    bytes = r.size
    blocks = r.blocks
    await store.close()
  } else {
    let blockstore: { put: (...a: any[]) => unknown, close?: () => Promise<void> }
    if (job === 'importer-fs') {
      const fs = new FsBlockstore(dir)
      await fs.open()
      blockstore = fs
    } else {
      blockstore = new MemoryBlockstore()
    }
    const counting = { put: async (cid: unknown, b: Uint8Array) => { blocks++; return await blockstore.put(cid, b) } }
    for await (const entry of importer(candidates(path), counting as any)) void entry
    bytes = totalBytes(path)
    await blockstore.close?.()
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const peak = sampler.stop()
  const result: RunResult = { seconds, bytes, blocks, maxRssMB: process.resourceUsage().maxRSS / 1024, maxAnonMB: peak.anon, maxFileMB: peak.file }
  process.stdout.write(JSON.stringify(result) + '\n')
}

function * candidates (root: string): Generator<{ path: string, content?: AsyncIterable<Uint8Array> }> {
  const st = statSync(root)
  if (st.isFile()) {
    yield { path: 'file', content: createReadStream(root) }
    return
  }
  const walk = function * (dir: string): Generator<{ path: string, content?: AsyncIterable<Uint8Array> }> {
    for (const d of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
      const p = join(dir, d.name)
      const rel = 'root/' + relative(root, p)
      if (d.isDirectory()) { yield { path: rel }; yield * walk(p) } else if (d.isFile()) yield { path: rel, content: createReadStream(p) }
    }
  }
  yield * walk(root)
}

function totalBytes (path: string): number {
  const st = statSync(path)
  if (st.isFile()) return st.size
  if (!st.isDirectory()) return 0
  return readdirSync(path).reduce((s, n) => s + totalBytes(join(path, n)), 0)
}

function run (job: string, path: string, work: string): RunResult {
  const dir = mkdtempSync(join(work, job + '-'))
  try {
    const out = execFileSync(
      process.execPath,
      [...CMESH_NODE_FLAGS, fileURLToPath(import.meta.url), '--child', job, path, dir],
      { encoding: 'utf8', maxBuffer: 1 << 20 }
    )
    return JSON.parse(out.trim().split('\n').pop()!) as RunResult
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function randomFile (path: string, mib: number): void {
  const fd = openSync(path, 'w')
  for (let i = 0; i < mib; i++) writeSync(fd, randomBytes(1024 * 1024))
  closeSync(fd)
}

/** Islands of random data in the sparse file, and MiB in each: a disk image's few used regions among holes. */
const SPARSE_ISLANDS = 4
const SPARSE_ISLAND_MIB = 4

/** A sparse file of `mib` MiB: holes (zeros) but for SPARSE_ISLANDS islands of random data spread through it. */
function sparseFile (path: string, mib: number, islands = 0): void {
  const fd = openSync(path, 'w')
  ftruncateSync(fd, mib * 1024 * 1024)
  for (let i = 0; i < islands; i++) {
    const bytes = Math.min(SPARSE_ISLAND_MIB, mib) * 1024 * 1024
    // mid-stretch, off any MiB boundary, inside the file
    const at = Math.min(Math.floor((i + 0.5) * mib / islands) * 1024 * 1024 + 12345, mib * 1024 * 1024 - bytes)
    writeSync(fd, randomBytes(bytes), 0, bytes, at)
  }
  closeSync(fd)
}

async function main (): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), {
    mb: 256,
    'rss-mb': 1024,
    'zeros-mb': 1024,
    'sparse-mb': 1024,
    tree: 'node_modules/typescript',
    rounds: 1
  })
  if (args.child === true) throw new Error('--child needs a job')
  if (typeof args.child === 'string') {
    await child(args.child, args._[0]!, args._[1]!)
    return
  }
  const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-ingest-'))
  try {
    const file = join(work, 'random.bin')
    randomFile(file, Number(args.mb))
    const tree = String(args.tree)
    const datasets: Array<[string, string]> = [[`random ${args.mb} MiB`, file], [`tree ${tree}`, tree]]
    const rows: Array<Record<string, unknown>> = []
    const json: Record<string, unknown> = {}
    const mbps = (r: RunResult): number => r.bytes / 1e6 / r.seconds
    for (const [name, path] of datasets) {
      const best = (job: string): RunResult => {
        let b: RunResult | undefined
        for (let i = 0; i < Number(args.rounds); i++) {
          const r = run(job, path, work)
          if (b === undefined || r.seconds < b.seconds) b = r
        }
        return b!
      }
      const cm = best('cmesh')
      const cu = best('cmesh-unixfs')
      const fs = best('importer-fs')
      const mem = best('importer-mem')
      for (const [job, r] of [
        ['cmesh (LMDB, BLAKE3, FastCDC)', cm], ['cmesh --format unixfs', cu], ['importer -> blockstore-fs', fs], ['importer -> memory', mem]
      ] as const) {
        rows.push({ data: name, run: job, 'MB/s': mbps(r).toFixed(0), blocks: r.blocks, 'peak RSS MB': r.maxRssMB.toFixed(0), 'anon/file MB': `${r.maxAnonMB.toFixed(0)}/${r.maxFileMB.toFixed(0)}`, 'cmesh ratio': (mbps(cm) / mbps(r)).toFixed(2) })
      }
      const key = name.startsWith('random') ? 'random' : 'tree'
      json[key] = {
        cmeshMBps: mbps(cm),
        importerFsMBps: mbps(fs),
        importerMemMBps: mbps(mem),
        cmeshBlocks: cm.blocks,
        unixfsMBps: mbps(cu),
        unixfsBlocks: cu.blocks,
        unixfsPeakRssMB: cu.maxRssMB,
        importerBlocks: fs.blocks,
        peakRssMB: cm.maxRssMB,
        peakAnonRssMB: cm.maxAnonMB
      }
      if (key === 'random') {
        Object.assign(json, {
          cmeshMBps: mbps(cm),
          importerFsMBps: mbps(fs),
          importerMemMBps: mbps(mem),
          ratioVsImporterFs: mbps(cm) / mbps(fs)
        })
      }
    }
    if (Number(args['rss-mb']) > 0) {
      const big = join(work, 'big.bin')
      randomFile(big, Number(args['rss-mb']))
      const r = run('cmesh', big, work)
      rmSync(big)
      rows.push({ data: `random ${args['rss-mb']} MiB`, run: 'cmesh (LMDB, BLAKE3, FastCDC)', 'MB/s': mbps(r).toFixed(0), blocks: r.blocks, 'peak RSS MB': r.maxRssMB.toFixed(0), 'anon/file MB': `${r.maxAnonMB.toFixed(0)}/${r.maxFileMB.toFixed(0)}`, 'cmesh ratio': '' })
      json.peakRssMB = r.maxRssMB
      json.peakAnonRssMB = r.maxAnonMB
      json.peakFileRssMB = r.maxFileMB
      json.bigFileMB = Number(args['rss-mb'])
      json.bigFileMBps = mbps(r)
    }
    // content that repeats: cmesh alone, peak RSS next to the random file's above
    const repeating: Array<[string, string, number, number]> = [
      ['zeros', `zeros ${args['zeros-mb']} MiB (sparse)`, Number(args['zeros-mb']), 0],
      ['sparse', `sparse ${args['sparse-mb']} MiB, ${SPARSE_ISLANDS} x ${SPARSE_ISLAND_MIB} MiB random`, Number(args['sparse-mb']), SPARSE_ISLANDS]
    ]
    for (const [key, name, mib, islands] of repeating) {
      if (mib <= 0) continue
      const path = join(work, `${key}.img`)
      sparseFile(path, mib, islands)
      const r = run('cmesh', path, work)
      rmSync(path)
      rows.push({ data: name, run: 'cmesh (LMDB, BLAKE3, FastCDC)', 'MB/s': mbps(r).toFixed(0), blocks: r.blocks, 'peak RSS MB': r.maxRssMB.toFixed(0), 'anon/file MB': `${r.maxAnonMB.toFixed(0)}/${r.maxFileMB.toFixed(0)}`, 'cmesh ratio': '' })
      json[key] = { fileMB: mib, cmeshMBps: mbps(r), cmeshBlocks: r.blocks, peakRssMB: r.maxRssMB, peakAnonRssMB: r.maxAnonMB, peakFileRssMB: r.maxFileMB }
    }
    printTable(rows, args.json === true, json)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
