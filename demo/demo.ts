/**
 * `npm run demo`: two real releases of a package (installed as npm-aliased devDependencies, so no network is
 * needed) go into one store. The demo shows what the second release shares with the first, and what a node
 * holding the first would have to fetch to get the second: only the blocks it lacks.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { walkDag } from '../src/dag/car.js'
import { ls } from '../src/dag/exporter.js'
import { importPath } from '../src/dag/importer.js'
import { createStore } from '../src/store/index.js'
import type { Blockstore } from '../src/store/interface.js'

const OLD = 'prettier-3.5.2'
const NEW = 'prettier-3.5.3'

const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`
const require = createRequire(import.meta.url)

interface FileInfo { path: string, cid: string, size: number }

/** Every file of a directory DAG with its path, CID and size. */
async function files (store: Blockstore, cid: CID, prefix = ''): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const e of ls(store, cid)) {
    const path = prefix + e.name
    if (e.kind === 'dir') out.push(...await files(store, e.cid!, path + '/'))
    else if (e.kind === 'file') out.push({ path, cid: e.cid!.toString(), size: e.size })
  }
  return out
}

async function blockSet (store: Blockstore, root: CID): Promise<Map<string, number>> {
  const set = new Map<string, number>()
  for await (const b of walkDag(store, root)) set.set(b.cid.toString(), b.bytes.length)
  return set
}

async function main (): Promise<void> {
  const oldDir = dirname(require.resolve(`${OLD}/package.json`))
  const newDir = dirname(require.resolve(`${NEW}/package.json`))
  const repo = mkdtempSync(join(tmpdir(), 'cmesh-demo-'))
  const store = createStore({ repo })
  try {
    console.log('CommunityMesh demo: two releases of prettier, cut into content-defined blocks\n')
    const t0 = performance.now()
    const v1 = await importPath(store, oldDir)
    const t1 = performance.now()
    const v2 = await importPath(store, newDir)
    const t2 = performance.now()
    console.log(`  ${OLD.padEnd(16)} ${mb(v1.size).padStart(10)} in ${String(v1.blocks).padStart(4)} blocks  root ${v1.cid}  (${((t1 - t0) / 1000).toFixed(2)} s)`)
    console.log(`  ${NEW.padEnd(16)} ${mb(v2.size).padStart(10)} in ${String(v2.blocks).padStart(4)} blocks  root ${v2.cid}  (${((t2 - t1) / 1000).toFixed(2)} s)`)

    const oldBlocks = await blockSet(store, v1.cid)
    const newBlocks = await blockSet(store, v2.cid)
    let sharedBytes = 0
    let shared = 0
    for (const [cid, size] of newBlocks) if (oldBlocks.has(cid)) { shared++; sharedBytes += size }
    console.log(`\nThe new release shares ${shared} of its ${newBlocks.size} blocks (${mb(sharedBytes)}) with the old one.`)
    console.log(`A neighbour holding ${OLD} fetches ${v2.newBlocks} blocks, ${mb(v2.newBytes)} of ${mb(v2.size)}: ${(100 * (1 - v2.newBytes / v2.size)).toFixed(1)} % saved.\n`)

    const before = new Map((await files(store, v1.cid)).map(f => [f.path, f]))
    const after = await files(store, v2.cid)
    const changed: Array<{ path: string, size: number, fetch: number, status: string }> = []
    let unchanged = 0
    for (const f of after) {
      const old = before.get(f.path)
      if (old?.cid === f.cid) { unchanged++; continue }
      let fetch = 0
      for await (const b of walkDag(store, (await import('../src/dag/cid.js')).parseCid(f.cid))) {
        if (!oldBlocks.has(b.cid.toString())) fetch += b.bytes.length
      }
      changed.push({ path: f.path, size: f.size, fetch, status: old === undefined ? 'new' : 'changed' })
    }
    console.log(`${unchanged} of ${after.length} files are identical (same CID, nothing to fetch). The others:`)
    changed.sort((a, b) => b.fetch - a.fetch)
    console.log(`  ${'file'.padEnd(44)} ${'status'.padEnd(8)} ${'size'.padStart(11)} ${'to fetch'.padStart(11)}`)
    for (const c of changed.slice(0, 12)) {
      console.log(`  ${c.path.padEnd(44)} ${c.status.padEnd(8)} ${mb(c.size).padStart(11)} ${mb(c.fetch).padStart(11)}`)
    }
    if (changed.length > 12) console.log(`  … and ${changed.length - 12} more`)
    console.log('\nEvery block fetched is verified against its CID; blocks of unchanged content are never sent twice.')
  } finally {
    await store.close()
    rmSync(repo, { recursive: true, force: true })
  }
}

await main()
