import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { cat, resolvePath } from '../../../src/dag/exporter.js'
import { importPath } from '../../../src/dag/importer.js'
import { fetchDag } from '../../../src/sync/fetch/fetcher.js'
import { storeSource } from '../../../src/sync/fetch/store-source.js'
import { collect, tempDir, tempStore } from '../../helpers/temp.js'
import { gzipFile, packageFiles, sourceText, syncFlushedGzip, tarOf, writeTree } from '../../dag/archive-helpers.js'

describe('fetching an archive stored member by member', () => {
  it('fetches every block the rebuild and the members need, and only the changed members of the next version', async t => {
    const dir1 = tempDir(t)
    const dir2 = tempDir(t)
    writeTree(dir1, packageFiles(21))
    writeTree(dir2, packageFiles(21, 'a changed first line\n'))
    const v1 = gzipFile(join(dir1, 'v1.tgz'), tarOf(dir1), { level: 9 })
    const v2 = gzipFile(join(dir2, 'v2.tgz'), tarOf(dir2), { level: 9 })
    const seeder = tempStore(t)
    const a = await importPath(seeder, v1)
    const b = await importPath(seeder, v2)
    assert.equal(b.archive?.stored, 'recipe')
    const local = tempStore(t)
    const first = await fetchDag(local, a.cid, [storeSource(seeder, 'seeder')])
    assert.equal(first.fetchedBlocks, a.blocks)
    assert.deepEqual(await collect(cat(local, a.cid)), readFileSync(v1))
    const second = await fetchDag(local, b.cid, [storeSource(seeder, 'seeder')])
    assert.deepEqual(await collect(cat(local, b.cid)), readFileSync(v2))
    assert.ok(second.fetchedBytes < first.fetchedBytes / 4, `the update fetched ${second.fetchedBytes} bytes, the first ${first.fetchedBytes}`)
    const member = await resolvePath(local, b.cid, 'pkg/lib/index.js')
    assert.equal(Buffer.from(await collect(cat(local, member.cid))).toString(), packageFiles(21)['lib/index.js'])
  })

  it('fetches an archive stored as a delta: the stream, the tree and the stored tail', async t => {
    const dir = tempDir(t)
    writeTree(dir, { ...packageFiles(22), 'lib/more.js': sourceText(600_000, 23) })
    const path = join(dir, 'flushed.tgz')
    writeFileSync(path, await syncFlushedGzip(tarOf(dir), 40_000))
    const seeder = tempStore(t)
    const r = await importPath(seeder, path)
    assert.equal(r.archive?.stored, 'delta')
    const local = tempStore(t)
    const fetched = await fetchDag(local, r.cid, [storeSource(seeder, 'seeder')])
    assert.equal(fetched.fetchedBlocks, r.blocks)
    assert.deepEqual(await collect(cat(local, r.cid)), readFileSync(path))
  })
})
