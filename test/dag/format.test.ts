import assert from 'node:assert/strict'
import { chmodSync, cpSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { importBytes, importPath } from '../../src/dag/importer.js'
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
    // modes are part of the DAG: set them explicitly so a checkout's umask does not matter
    const tree = join(tempDir(t), 'tree')
    cpSync(join(FIXTURES, 'tree'), tree, { recursive: true, verbatimSymlinks: true })
    for (const [p, mode] of [['', 0o755], ['sub', 0o755], ['a.txt', 0o644], ['run.sh', 0o755], ['sub/zeros.bin', 0o644]] as const) chmodSync(join(tree, p), mode)
    assert.equal((await importPath(store, tree)).cid.toString(), expected.tree)
  })
})
