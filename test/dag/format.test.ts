import assert from 'node:assert/strict'
import { chmodSync, cpSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it, type TestContext } from 'node:test'
import { CID } from 'multiformats/cid'
import { cat } from '../../src/dag/exporter.js'
import { verifyStore } from '../../src/dag/verify.js'
import { writeFileSync } from 'node:fs'
import { importBytes, importPath, importStream, type ImportOptions } from '../../src/dag/importer.js'
import { LARGE_FILE_BYTES, LARGE_FILE_CHUNKER, SMALL_FILE_BYTES } from '../../src/dag/constants.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url))
const expected = JSON.parse(readFileSync(join(FIXTURES, 'format.json'), 'utf8')) as Record<string, string> & { v1: Record<string, string> }

describe('on-disk format', () => {
  it('hashes with BLAKE3 as specified (official test vector for empty input)', async t => {
    const { cid } = await importBytes(tempStore(t), new Uint8Array(0))
    assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262')
  })

  /** The CIDs of the fixed inputs with `options` (`large` for the 17 MiB file): the defaults, or the settings of format version 1. */
  async function fixtureCids (t: TestContext, options: ImportOptions, large: ImportOptions = options): Promise<Record<string, string>> {
    const store = tempStore(t)
    const out: Record<string, string> = {}
    out.empty = (await importBytes(store, new Uint8Array(0), options)).cid.toString()
    out.hello = (await importBytes(store, new TextEncoder().encode('hello world\n'), options)).cid.toString()
    out.random1MiB = (await importBytes(store, pseudoRandom(1 << 20, 1), options)).cid.toString()
    out.random1MiBSha256 = (await importBytes(store, pseudoRandom(1 << 20, 1), { ...options, hash: 'sha2-256' })).cid.toString()
    out.random17MiB = (await importBytes(store, pseudoRandom(LARGE_FILE_BYTES + (1 << 20), 2), large)).cid.toString()
    // modes are part of the DAG: set them explicitly so a checkout's umask does not matter
    const tree = join(tempDir(t), 'tree')
    cpSync(join(FIXTURES, 'tree'), tree, { recursive: true, verbatimSymlinks: true })
    for (const [p, mode] of [
      ['', 0o755],
      ['sub', 0o755],
      ['a.txt', 0o644],
      ['run.sh', 0o755],
      ['sub/zeros.bin', 0o644]
    ] as const) chmodSync(join(tree, p), mode)
    out.tree = (await importPath(store, tree, options)).cid.toString()
    // what was written reads back and verifies
    assert.deepEqual(await collect(cat(store, CID.parse(out.random1MiB))), Buffer.from(pseudoRandom(1 << 20, 1)))
    assert.equal((await verifyStore(store)).ok, true)
    return out
  }

  it('produces the same CIDs as the checked-in fixtures', async t => {
    const { about, v1, ...current } = expected
    assert.ok(typeof about === 'string' && typeof v1 === 'object')
    assert.deepEqual(await fixtureCids(t, {}), current)
  })

  it('still writes and reads format version 1 (1/2/16 KiB under 16 MiB, 64-link file nodes) when asked for it', async t => {
    // small files were cut at 1/2/16 KiB and file nodes held 64 links before the wide-set measurements
    const v1Small = { minSize: 1024, avgSize: 2048, maxSize: 16384 }
    const v1 = await fixtureCids(t, { fileFanout: 64, chunker: v1Small }, { fileFanout: 64, chunker: LARGE_FILE_CHUNKER })
    assert.deepEqual(v1, expected.v1)
  })

  it('cuts a file by its length alone: from a path, from memory or from a stream, the same CID', async t => {
    const store = tempStore(t)
    const dir = tempDir(t)
    const sizes = [[SMALL_FILE_BYTES - 1, 5], [1 << 20, 1], [LARGE_FILE_BYTES - 1, 3], [LARGE_FILE_BYTES, 4], [LARGE_FILE_BYTES + (1 << 20), 2]] as const
    for (const [size, seed] of sizes) {
      const data = pseudoRandom(size, seed)
      writeFileSync(join(dir, 'f'), data)
      const fromPath = (await importPath(store, join(dir, 'f'))).cid.toString()
      const pieces = function * (): Generator<Uint8Array> { for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000) }
      // a wrong length hint changes nothing: it is for progress only
      const fromStream = (await importStream(store, pieces(), { totalBytes: 5 })).cid.toString()
      assert.equal((await importBytes(store, data)).cid.toString(), fromPath, `${size} bytes from memory`)
      assert.equal(fromStream, fromPath, `${size} bytes from a stream`)
    }
    // the two sides of the threshold are cut differently (large files get larger chunks)
    const below = await importBytes(store, pseudoRandom(LARGE_FILE_BYTES - 1, 3))
    const above = await importBytes(store, pseudoRandom(LARGE_FILE_BYTES, 3))
    assert.ok(above.blocks * 4 < below.blocks, `${above.blocks} blocks at 16 MiB, ${below.blocks} just under`)
    // and files under 1 MiB smaller ones
    const small = await importBytes(store, pseudoRandom(SMALL_FILE_BYTES - 1, 5))
    const mid = await importBytes(store, pseudoRandom(SMALL_FILE_BYTES, 5))
    assert.ok(mid.blocks * 1.5 < small.blocks, `${mid.blocks} blocks at 1 MiB, ${small.blocks} just under`)
  })
})
