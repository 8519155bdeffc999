/**
 * The archives table of bench:update (`npm run bench:update -- --archives [--json]`): pairs of real archives as
 * people download them (npm `.tgz`, Debian `.deb`), each fetched once into ARCHIVE_CACHE. For each pair, into
 * fresh stores, the old archive then the new one:
 *   aware       newBytes with archive-aware import (the default), and how each side was stored (recipe | delta | raw)
 *   path        how the new archive comes back byte-identical: recipe (compressor and level: node = Node's zlib,
 *               canonical = zlib's own algorithm), delta (a recipe for its start plus its remaining bytes stored),
 *               members (zip, ar: concatenation) or raw
 *   raw         newBytes with --raw (the archive's bytes as they are)
 *   tree        newBytes of the unpacked trees (old tree, then new tree)
 *   rsync       literal data of `rsync --no-whole-file` on the archives, and on the unpacked trees
 *   import MB/s archive bytes a second, importing the new archive after the old; tree MB/s: the unpacked tree's
 *   rebuild MB/s reading the new archive back whole (`cat`), and whether its SHA-256 matched the original's
 *   wire        bytes a client holding the old archive's release received updating to the new one (real nodes on
 *               loopback, bench/network-update.ts; blocks are compressed on the wire), beside `rsync -z`'s bytes
 *               sent on the unpacked trees (bench/rsync-daemon.ts)
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cat } from '../src/dag/exporter.js'
import { importPath, type ImportOptions, type ImportResult } from '../src/dag/importer.js'
import { createStore } from '../src/store/index.js'
import { networkUpdate } from './network-update.js'
import { haveRsync, rsyncLiteralBytes } from './packages.js'
import { rsyncZ } from './rsync-daemon.js'
import { printTable, type BenchArgs } from './report.js'

/** Archives as fetched, one file per spec; bench/ compiles to dist/bench/, so the repo root is two levels up. */
export const ARCHIVE_CACHE = fileURLToPath(new URL('../../.cache/archives/', import.meta.url))

type Kind = 'npm' | 'deb'

/** npm pairs of several kinds (compilers, bundlers, UI, small libraries) and Debian packages with two versions published. */
export const ARCHIVE_PAIRS: Array<[Kind, string, string]> = [
  ['npm', 'eslint@9.27.0', 'eslint@9.28.0'],
  ['npm', 'webpack@5.98.0', 'webpack@5.99.0'],
  ['npm', 'react-dom@19.1.0', 'react-dom@19.1.1'],
  ['npm', 'typescript@5.8.2', 'typescript@5.8.3'],
  ['npm', 'prettier@3.5.2', 'prettier@3.5.3'],
  ['npm', 'axios@1.9.0', 'axios@1.10.0'],
  ['npm', 'vue@3.5.16', 'vue@3.5.17'],
  ['npm', '@babel/core@7.27.1', '@babel/core@7.27.4'],
  ['npm', 'express@4.21.1', 'express@4.21.2'],
  ['npm', 'zod@3.25.0', 'zod@3.25.1'],
  ['npm', 'lodash@4.17.20', 'lodash@4.17.21'],
  ['npm', 'rxjs@7.8.1', 'rxjs@7.8.2'],
  ['npm', 'semver@7.7.1', 'semver@7.7.2'],
  ['deb', 'curl=7.88.1-10+deb12u5', 'curl=7.88.1-10+deb12u15'],
  ['deb', 'openssl=3.0.20-1~deb12u2', 'openssl=3.0.22-1~deb12u2'],
  ['deb', 'tzdata=2026b-0+deb12u1', 'tzdata=2026f-0+deb12u1']
]

/** The archive file for `spec`, fetched once (`npm pack` or `apt-get download`) into ARCHIVE_CACHE. */
export function ensureArchive (kind: Kind, spec: string): string {
  const dir = join(ARCHIVE_CACHE, kind, spec.replaceAll('/', '+'))
  if (existsSync(dir)) return join(dir, readdirSync(dir)[0]!)
  mkdirSync(join(ARCHIVE_CACHE, kind), { recursive: true })
  const work = mkdtempSync(join(ARCHIVE_CACHE, kind, '.fetch-'))
  try {
    if (kind === 'npm') execFileSync('npm', ['pack', spec, '--pack-destination', work], { stdio: ['ignore', 'ignore', 'pipe'] })
    else execFileSync('apt-get', ['download', spec], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] })
    const [file] = readdirSync(work)
    if (file === undefined) throw new Error(`fetching ${spec} gave no file`)
    renameSync(work, dir) // last, so an interrupted fetch leaves nothing behind
    return join(dir, file)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** The archive unpacked (tar or dpkg-deb) next to it, once. */
function unpacked (kind: Kind, archive: string): string {
  const dir = archive + '.unpacked'
  if (existsSync(dir)) return dir
  const work = mkdtempSync(archive + '.tmp-')
  if (kind === 'npm') execFileSync('tar', ['-xzf', archive, '-C', work, '--no-same-owner'])
  else execFileSync('dpkg-deb', ['-x', archive, work])
  renameSync(work, dir)
  return dir
}

interface Timed { result: ImportResult, seconds: number }

/** Import `a` then `b` into a fresh store; the second import, timed, and `b` read back whole (timed, hashed). */
async function pairImport (a: string, b: string, options: Pick<ImportOptions, 'raw'>, readBack: boolean): Promise<{ first: ImportResult, second: Timed, rebuild?: { seconds: number, sha256: string } }> {
  const repo = mkdtempSync(join(tmpdir(), 'cmesh-bench-archives-'))
  const store = createStore({ repo })
  try {
    const first = await importPath(store, a, options)
    let t = performance.now()
    const result = await importPath(store, b, options)
    const second = { result, seconds: (performance.now() - t) / 1000 }
    if (!readBack) return { first, second }
    t = performance.now()
    const hash = createHash('sha256')
    for await (const bytes of cat(store, result.cid)) hash.update(bytes)
    return { first, second, rebuild: { seconds: (performance.now() - t) / 1000, sha256: hash.digest('hex') } }
  } finally {
    await store.close()
    rmSync(repo, { recursive: true, force: true })
  }
}

/** rsync's literal data from a copy of `a` to `b`, each alone in a directory under the same name. */
function rsyncFiles (a: string, b: string): number | null {
  const da = mkdtempSync(join(tmpdir(), 'cmesh-bench-ra-'))
  const db = mkdtempSync(join(tmpdir(), 'cmesh-bench-rb-'))
  try {
    copyFileSync(a, join(da, 'archive'))
    copyFileSync(b, join(db, 'archive'))
    return rsyncLiteralBytes(da, db)
  } finally {
    rmSync(da, { recursive: true, force: true })
    rmSync(db, { recursive: true, force: true })
  }
}

export interface ArchiveRow {
  pair: string
  kind: Kind
  size: number
  awareNewBytes: number
  rawNewBytes: number
  treeNewBytes: number
  treeSize: number
  rsyncArchive: number | null
  rsyncTree: number | null
  importMBps: number
  treeImportMBps: number
  rebuildMBps: number
  wireBytes: number
  rsyncZTree: number | null
  exact: boolean
  /** How the old and the new archive were stored: recipe | delta | members | raw (with the reason) | none (not recognised). */
  stored: string
  /** How the new archive is rebuilt exactly: recipe | delta | members | raw | none. */
  path: string
  /** The new archive's compressor and level (recipe and delta), and its delta's bytes. */
  settings?: string
  deltaBytes?: number
}

const mbps = (bytes: number, seconds: number): number => Math.round(bytes / 1e6 / Math.max(seconds, 1e-6) * 10) / 10
const how = (r: ImportResult): string => r.archive === undefined ? 'none' : r.archive.stored === 'raw' ? `raw (${r.archive.reason ?? ''})` : r.archive.stored
const settingsOf = (r: ImportResult): string | undefined => r.archive?.settings === undefined ? undefined : `${r.archive.settings.compressor} ${r.archive.settings.level}`
function pathOf (r: ImportResult): string {
  const a = r.archive
  if (a === undefined) return 'none'
  if (a.stored === 'recipe') return `recipe (${settingsOf(r) ?? ''})`
  if (a.stored === 'delta') return `delta (${settingsOf(r) ?? ''}, ${a.deltaBytes ?? 0} B)`
  return a.stored
}
const pct = (bytes: number | null, size: number): string => bytes === null ? 'n/a' : (100 * (1 - bytes / size)).toFixed(1) + ' %'

export async function archivesTable (args: BenchArgs): Promise<void> {
  const only = typeof args.only === 'string' ? args.only.split(',') : undefined
  const loadAtStart = loadavg()[0]!.toFixed(2)
  const rows: Array<ArchiveRow & { result: ImportResult }> = []
  for (const [kind, oldSpec, newSpec] of ARCHIVE_PAIRS) {
    if (only !== undefined && !only.some(o => oldSpec.startsWith(o))) continue
    const a = ensureArchive(kind, oldSpec)
    const b = ensureArchive(kind, newSpec)
    const ta = unpacked(kind, a)
    const tb = unpacked(kind, b)
    const aware = await pairImport(a, b, {}, true)
    const raw = await pairImport(a, b, { raw: true }, false)
    const tree = await pairImport(ta, tb, {}, false)
    const size = statSync(b).size
    const net = await networkUpdate(a, b)
    const z = haveRsync() ? await rsyncZ(ta, tb) : null
    rows.push({
      result: aware.second.result,
      pair: `${oldSpec} -> ${newSpec.slice(newSpec.search(/[@=][^@=]*$/) + 1)}`,
      kind,
      size,
      awareNewBytes: aware.second.result.newBytes,
      rawNewBytes: raw.second.result.newBytes,
      treeNewBytes: tree.second.result.newBytes,
      treeSize: tree.second.result.size,
      rsyncArchive: rsyncFiles(a, b),
      rsyncTree: rsyncLiteralBytes(ta, tb),
      importMBps: mbps(size, aware.second.seconds),
      treeImportMBps: mbps(tree.second.result.size, tree.second.seconds),
      rebuildMBps: mbps(size, aware.rebuild!.seconds),
      wireBytes: net.wireBytes,
      rsyncZTree: z?.sent ?? null,
      exact: aware.rebuild!.sha256 === createHash('sha256').update(readFileSync(b)).digest('hex'),
      stored: `${how(aware.first)} / ${how(aware.second.result)}`,
      path: aware.second.result.archive?.stored ?? 'none',
      settings: settingsOf(aware.second.result),
      deltaBytes: aware.second.result.archive?.deltaBytes
    })
  }
  // on stderr: the MB/s columns mean little without the machine's load beside them
  console.error(`load average (1 min): ${loadAtStart} at start, ${loadavg()[0]!.toFixed(2)} at end`)
  printTable(rows.map(r => ({
    pair: r.pair,
    size: r.size,
    'aware new': r.awareNewBytes,
    'aware saved': pct(r.awareNewBytes, r.size),
    'raw new': r.rawNewBytes,
    'raw saved': pct(r.rawNewBytes, r.size),
    'tree new': r.treeNewBytes,
    'tree saved': pct(r.treeNewBytes, r.treeSize),
    'rsync archive': r.rsyncArchive ?? 'n/a',
    'rsync tree': r.rsyncTree ?? 'n/a',
    'import MB/s': r.importMBps,
    'tree MB/s': r.treeImportMBps,
    'rebuild MB/s': r.rebuildMBps,
    wire: r.wireBytes,
    'rsync -z tree': r.rsyncZTree ?? 'n/a',
    'wire/rsync-z': r.rsyncZTree === null || r.rsyncZTree === 0 ? 'n/a' : (r.wireBytes / r.rsyncZTree).toFixed(2),
    exact: r.exact ? 'yes' : 'NO',
    'exact path': pathOf(r.result),
    'stored old / new': r.stored
  })), args.json === true, rows.map(({ result: _result, ...row }) => row))
}
