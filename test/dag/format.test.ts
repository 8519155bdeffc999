import assert from 'node:assert/strict'
import { chmodSync, cpSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { writeFileSync } from 'node:fs'
import { importBytes, importPath, importStream } from '../../src/dag/importer.js'
import { LARGE_FILE_BYTES } from '../../src/dag/constants.js'
import { pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url))
const expected = JSON.parse(readFileSync(join(FIXTURES, 'format.json'), 'utf8')) as Record<string, string>

describe('on-disk format', () => {
  it('hashes with BLAKE3 as specified (official test vector for empty input)', async t => {
    const { cid } = await importBytes(tempStore(t), new Uint8Array(0))
    assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262')
  })

  it('produces the same CIDs as the checked-in fixtures', async t => {
    const store = tempStore(t)
    assert.equal((await importBytes(store, new Uint8Array(0))).cid.toString(), expected.empty)
    assert.equal((await importBytes(store, new TextEncoder().encode('hello world\n'))).cid.toString(), expected.hello)
    assert.equal((await importBytes(store, pseudoRandom(1 << 20, 1))).cid.toString(), expected.random1MiB)
    assert.equal((await importBytes(store, pseudoRandom(1 << 20, 1), { hash: 'sha2-256' })).cid.toString(), expected.random1MiBSha256)
    assert.equal((await importBytes(store, pseudoRandom(LARGE_FILE_BYTES + (1 << 20), 2))).cid.toString(), expected.random17MiB)
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
    assert.equal((await importPath(store, tree)).cid.toString(), expected.tree)
  })

  it('cuts a file by its length alone: from a path, from memory or from a stream, the same CID', async t => {
    const store = tempStore(t)
    const dir = tempDir(t)
    for (const [size, seed] of [[1 << 20, 1], [LARGE_FILE_BYTES - 1, 3], [LARGE_FILE_BYTES, 4], [LARGE_FILE_BYTES + (1 << 20), 2]] as const) {
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
  })
})
