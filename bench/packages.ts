/**
 * Real package version pairs for the update benchmarks (bench/update.ts, bench/chunk-sizes.ts): fetching npm
 * packages into a cache, importing an old-then-new pair into a fresh store, and rsync's delta for the same pair.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChunkerOptions } from '../src/dag/chunker/fastcdc.js'
import { importPath, type ImportOptions } from '../src/dag/importer.js'
import { createStore } from '../src/store/index.js'

/** Unpacked packages, one directory per spec; bench/ compiles to dist/bench/, so the repo root is two levels up. */
export const PACKAGE_CACHE = fileURLToPath(new URL('../../.cache/packages/', import.meta.url))

/** Version pairs measured when no pair is given: two patch releases, a minor release and a native binary. */
export const DEFAULT_PAIRS: Array<[string, string]> = [
  ['typescript@5.8.2', 'typescript@5.8.3'],
  ['typescript@5.8.3', 'typescript@5.9.2'],
  ['prettier@3.5.2', 'prettier@3.5.3'],
  ['@esbuild/linux-x64@0.25.0', '@esbuild/linux-x64@0.25.1']
]

/** A version pair of the wide set: what kind of package it is and whether the release is a patch or a minor one. */
export interface WidePair { old: string, new: string, kind: string, release: 'patch' | 'minor' }

/**
 * Pairs that nothing in cmesh was tuned on (`bench:update -- --wide`): JS libraries, bundles, native binaries,
 * data, type definitions, docs, many small files and a few large ones, patch and minor releases.
 */
export const WIDE_PAIRS: WidePair[] = [
  { old: 'lodash@4.17.20', new: 'lodash@4.17.21', kind: 'JS, 1000 small files in one directory', release: 'patch' },
  { old: 'react-dom@18.3.0', new: 'react-dom@18.3.1', kind: 'bundled/minified JS', release: 'patch' },
  { old: '@types/node@22.15.2', new: '@types/node@22.15.3', kind: 'type definitions', release: 'patch' },
  { old: 'caniuse-lite@1.0.30001715', new: 'caniuse-lite@1.0.30001716', kind: 'data, many small files', release: 'patch' },
  { old: '@esbuild/linux-x64@0.24.0', new: '@esbuild/linux-x64@0.24.1', kind: 'native binary (Go)', release: 'patch' },
  { old: '@swc/core-linux-x64-gnu@1.11.21', new: '@swc/core-linux-x64-gnu@1.11.22', kind: 'native binary (Rust, large)', release: 'patch' },
  { old: 'rxjs@7.8.1', new: 'rxjs@7.8.2', kind: 'JS, many small files, 4 builds', release: 'patch' },
  { old: 'eslint@9.25.0', new: 'eslint@9.25.1', kind: 'JS library', release: 'patch' },
  { old: 'npm@10.9.2', new: 'npm@10.9.3', kind: 'docs, man pages, bundled deps', release: 'patch' },
  { old: 'moment@2.30.0', new: 'moment@2.30.1', kind: 'JS, locales, minified builds', release: 'patch' },
  { old: 'zod@3.24.3', new: 'zod@3.24.4', kind: 'JS library, types', release: 'patch' },
  { old: 'date-fns@4.0.0', new: 'date-fns@4.1.0', kind: 'JS, thousands of small files', release: 'minor' },
  { old: 'axios@1.8.4', new: 'axios@1.9.0', kind: 'JS library, bundles', release: 'minor' },
  { old: 'three@0.175.0', new: 'three@0.176.0', kind: 'JS, large files', release: 'minor' }
]

/** DEFAULT_PAIRS as WIDE_PAIRS are described (`bench:update -- --wide --tuned`). */
export const TUNED_PAIRS: WidePair[] = [
  { old: 'typescript@5.8.2', new: 'typescript@5.8.3', kind: 'tuned: JS, large files', release: 'patch' },
  { old: 'typescript@5.8.3', new: 'typescript@5.9.2', kind: 'tuned: JS, large files', release: 'minor' },
  { old: 'prettier@3.5.2', new: 'prettier@3.5.3', kind: 'tuned: bundled JS', release: 'patch' },
  { old: '@esbuild/linux-x64@0.25.0', new: '@esbuild/linux-x64@0.25.1', kind: 'tuned: native binary', release: 'patch' }
]

/** Fixed-size chunking to compare with: FastCDC with min == max cuts every chunk at exactly that size. */
export const FIXED_256K: ChunkerOptions = { minSize: 262144, avgSize: 262144, maxSize: 262144 }

/**
 * A directory holding the unpacked npm package `spec` (e.g. 'typescript@5.8.2'), fetched once with `npm pack`
 * into PACKAGE_CACHE and reused after. Give exact versions: a cached 'typescript@latest' is never refreshed.
 */
export async function ensurePackage (spec: string): Promise<string> {
  const dir = join(PACKAGE_CACHE, spec.replaceAll('/', '+'))
  if (existsSync(dir)) return dir
  mkdirSync(PACKAGE_CACHE, { recursive: true })
  const work = mkdtempSync(join(PACKAGE_CACHE, '.fetch-'))
  try {
    const out = execFileSync('npm', ['pack', spec, '--json', '--pack-destination', work], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    const [info] = JSON.parse(out) as Array<{ filename: string }>
    if (info === undefined) throw new Error(`npm pack ${spec} returned no tarball`)
    const unpacked = join(work, 'unpacked')
    mkdirSync(unpacked)
    execFileSync('tar', ['-xzf', join(work, info.filename), '-C', unpacked, '--no-same-owner'])
    // npm tarballs hold one top folder, usually package/
    const top = readdirSync(unpacked)
    const root = top.length === 1 && statSync(join(unpacked, top[0]!)).isDirectory() ? join(unpacked, top[0]!) : unpacked
    // rename last, so an interrupted fetch never leaves a half-unpacked package in the cache
    renameSync(root, dir)
    return dir
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** A directory as given, else an npm spec fetched with ensurePackage. */
export async function resolveSide (arg: string): Promise<string> {
  if (existsSync(arg) && statSync(arg).isDirectory()) return arg
  return await ensurePackage(arg)
}

/** 'typescript 5.8.2 -> 5.8.3' for two specs of one package, else 'old -> new'. */
export function pairLabel (oldArg: string, newArg: string): string {
  const split = (s: string): [string, string] | undefined => {
    const at = s.lastIndexOf('@')
    return at > 0 ? [s.slice(0, at), s.slice(at + 1)] : undefined
  }
  const a = split(oldArg)
  const b = split(newArg)
  if (a !== undefined && b !== undefined && a[0] === b[0] && !existsSync(oldArg)) return `${a[0]} ${a[1]} -> ${b[1]}`
  return `${oldArg} -> ${newArg}`
}

export interface UpdateImport {
  /** Content bytes of the new version. */
  newSize: number
  /** Bytes of blocks the store lacked when the new version was imported after the old one. */
  newBytes: number
  /** Unique blocks of the new version's DAG. */
  blocks: number
  /** Blocks among those the store lacked. */
  newBlocks: number
}

/** Import `oldDir` then `newDir` into a fresh store in a temp dir (removed after) and report the second import. */
export async function importUpdate (oldDir: string, newDir: string, options: Pick<ImportOptions, 'chunker' | 'fileFanout' | 'format'> = {}): Promise<UpdateImport> {
  const repo = mkdtempSync(join(tmpdir(), 'cmesh-bench-update-'))
  const store = createStore({ repo })
  try {
    await importPath(store, oldDir, options)
    const r = await importPath(store, newDir, options)
    return { newSize: r.size, newBytes: r.newBytes, blocks: r.blocks, newBlocks: r.newBlocks }
  } finally {
    await store.close()
    rmSync(repo, { recursive: true, force: true })
  }
}

/** Whether an `rsync` binary is on PATH. */
export function haveRsync (): boolean {
  return spawnSync('rsync', ['--version'], { stdio: 'ignore' }).status === 0
}

/**
 * Bytes rsync sends literally (not matched against the old copy) to turn `oldDir` into `newDir`, or null without
 * rsync. Local rsync defaults to whole files, hence --no-whole-file; --checksum because npm tarballs give every
 * file the same mtime, so rsync's size+mtime check would skip changed files of unchanged size.
 */
export function rsyncLiteralBytes (oldDir: string, newDir: string): number | null {
  if (!haveRsync()) return null
  const dest = mkdtempSync(join(tmpdir(), 'cmesh-bench-rsync-'))
  try {
    cpSync(oldDir, dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true })
    const out = execFileSync('rsync', ['-a', '--no-whole-file', '--checksum', '--stats', newDir.replace(/\/*$/, '/'), dest + '/'], { encoding: 'utf8', maxBuffer: 16 << 20 })
    const m = /Literal data: ([\d,.]+) bytes/.exec(out)
    if (m === null) throw new Error(`no "Literal data" line in rsync --stats output:\n${out}`)
    return Number(m[1]!.replace(/[,.]/g, ''))
  } finally {
    rmSync(dest, { recursive: true, force: true })
  }
}
