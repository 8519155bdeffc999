import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { createStore, type StoreOptions } from '../../src/store/index.js'
import type { Blockstore } from '../../src/store/interface.js'

/** Temp dirs of this process, removed again when it exits. */
const created = new Set<string>()
process.once('exit', () => { for (const dir of created) rmSync(dir, { recursive: true, force: true }) })

/**
 * A temp dir removed when the test ends, pass or fail, and again when the process exits: node:test runs a test's
 * `after` hooks in the order they were added, so a node started after its dir was made is stopped after the dir is
 * removed, and what it writes on the way out would otherwise be left behind.
 */
export function tempDir (t: TestContext, prefix = 'cmesh-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  created.add(dir)
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A real LMDB store in a temp dir, closed and removed when the test ends. */
export function tempStore (t: TestContext, options: Omit<StoreOptions, 'repo'> = {}): Blockstore {
  const store = createStore({ ...options, repo: join(tempDir(t), 'repo') })
  t.after(async () => await store.close())
  return store
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandom (size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

export async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  return Buffer.concat(parts)
}
