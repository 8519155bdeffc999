import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CarReader } from '@ipld/car'
import { carStream, exportCar, importCar } from '../../src/dag/car.js'
import { cat } from '../../src/dag/exporter.js'
import { importBytes } from '../../src/dag/importer.js'
import { verifyBlock } from '../../src/dag/verify.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

describe('CAR import and export', () => {
  it('writes a CAR that @ipld/car reads back with every block hash verified', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const data = pseudoRandom(100_000, 31)
    const { cid, blocks } = await importBytes(store, data, { chunker: SMALL_CHUNKS })
    const file = join(dir, 'x.car')
    const result = await exportCar(store, cid, file)
    assert.equal(result.blocks, blocks)
    const reader = await CarReader.fromBytes(readFileSync(file))
    assert.deepEqual((await reader.getRoots()).map(String), [cid.toString()])
    let n = 0
    for await (const block of reader.blocks()) {
      await verifyBlock(block.cid, block.bytes)
      n++
    }
    assert.equal(n, blocks)

    const other = tempStore(t)
    const imported = await importCar(other, file)
    assert.deepEqual(imported.complete.map(String), [cid.toString()])
    assert.equal(imported.newBlocks, blocks)
    assert.ok(other.isPinned(cid))
    assert.deepEqual(await collect(cat(other, cid)), Buffer.from(data))
  })

  it('streams the same bytes as the file export, and only the root block with scope block', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const { cid } = await importBytes(store, pseudoRandom(60_000, 32), { chunker: SMALL_CHUNKS })
    const file = join(dir, 'x.car')
    await exportCar(store, cid, file)
    assert.deepEqual(await collect(carStream(store, cid)), readFileSync(file))
    const reader = await CarReader.fromBytes(await collect(carStream(store, cid, { scope: 'block' })))
    const blocks = []
    for await (const block of reader.blocks()) blocks.push(block)
    assert.deepEqual(blocks.map(b => b.cid.toString()), [cid.toString()])
  })

  it('refuses a CAR with a block whose bytes do not match its CID, storing nothing of it', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const data = pseudoRandom(60_000, 32)
    const { cid } = await importBytes(store, data, { chunker: SMALL_CHUNKS })
    const file = join(dir, 'x.car')
    await exportCar(store, cid, file)
    const bytes = readFileSync(file)
    // flip a byte well inside the data of some block near the end of the file
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0x01
    writeFileSync(file, bytes)
    const other = tempStore(t)
    await assert.rejects(importCar(other, file), { code: 'ERR_BLOCK_CORRUPT' })
    assert.equal(other.stat().blocks, 0)
    assert.equal(other.stat().bytes, 0)
  })

  it('refuses files that are not CARs and reports roots whose DAG is incomplete', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    writeFileSync(join(dir, 'junk.car'), 'this is not a car file')
    await assert.rejects(importCar(store, join(dir, 'junk.car')), { code: 'ERR_INVALID_CAR' })
    await assert.rejects(importCar(store, join(dir, 'missing.car')), { code: 'ERR_PATH_NOT_FOUND' })
    // a CAR holding only the root node of a larger DAG
    const src = tempStore(t)
    const { cid } = await importBytes(src, pseudoRandom(60_000, 33), { chunker: SMALL_CHUNKS })
    const { CarWriter } = await import('@ipld/car')
    const { writer, out } = CarWriter.create([cid])
    const parts: Uint8Array[] = []
    const drained = (async () => { for await (const p of out) parts.push(p) })()
    await writer.put({ cid, bytes: src.getSync(cid) })
    await writer.close()
    await drained
    writeFileSync(join(dir, 'partial.car'), Buffer.concat(parts))
    const r = await importCar(store, join(dir, 'partial.car'))
    assert.deepEqual(r.complete, [])
    assert.equal(r.newBlocks, 1)
    assert.equal(store.isComplete(cid), false)
  })
})
