import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { open } from 'lmdb'
import { CID } from 'multiformats/cid'
import { cidOf } from '../../src/dag/cid.js'
import { getHasher } from '../../src/dag/hashing.js'
import { cat } from '../../src/dag/exporter.js'
import { importBytes } from '../../src/dag/importer.js'
import { verifyStore } from '../../src/dag/verify.js'
import { createStore, resolveRepo } from '../../src/store/index.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

async function rawBlock (seed: number, size = 1000): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = pseudoRandom(size, seed)
  return { cid: cidOf(await getHasher('blake3'), 0x55, bytes), bytes }
}

describe('LMDB block store', () => {
  it('puts, gets, has and deletes blocks, counting only new ones', async t => {
    const store = tempStore(t)
    const a = await rawBlock(1)
    const b = await rawBlock(2, 500)
    assert.deepEqual(await store.putMany([a, b, a]), { newBlocks: 2, newBytes: 1500 })
    assert.deepEqual(await store.put(a.cid, a.bytes), { newBlocks: 0, newBytes: 0 })
    assert.ok(await store.has(a.cid))
    assert.deepEqual(Buffer.from(await store.get(b.cid)), Buffer.from(b.bytes))
    assert.equal(store.stat().blocks, 2)
    assert.equal(store.stat().bytes, 1500)
    assert.equal(await store.delete(b.cid), true)
    assert.equal(await store.delete(b.cid), false)
    assert.equal(await store.has(b.cid), false)
    await assert.rejects(store.get(b.cid), { code: 'ERR_BLOCK_NOT_FOUND' })
    assert.equal(store.stat().bytes, 1000)
    await assert.rejects(store.put(a.cid, new Uint8Array(1024 * 1024 + 1)), { code: 'ERR_BLOCK_TOO_LARGE' })
  })

  it('gives a block\'s size from the index and copies its bytes straight into a buffer', async t => {
    const store = tempStore(t)
    const a = await rawBlock(3, 700)
    const b = await rawBlock(4, 300)
    await store.putMany([a, b])
    assert.equal(store.sizeOf(a.cid), 700)
    assert.equal(store.sizeOf(b.cid), 300)
    const out = new Uint8Array(1010).fill(9)
    // two copies in a row: the second fast read must not disturb the first's bytes
    assert.equal(store.copyInto(a.cid, out, 5), 700)
    assert.equal(store.copyInto(b.cid, out, 705), 300)
    assert.deepEqual(Buffer.from(out.subarray(5, 705)), Buffer.from(a.bytes))
    assert.deepEqual(Buffer.from(out.subarray(705, 1005)), Buffer.from(b.bytes))
    assert.deepEqual([...out.subarray(0, 5), ...out.subarray(1005)], new Array(10).fill(9), 'nothing outside the block is written')
    assert.throws(() => store.copyInto(a.cid, out, 400), RangeError, 'a block that does not fit is refused, not truncated')
    await store.delete(b.cid)
    assert.equal(store.sizeOf(b.cid), undefined)
    assert.throws(() => store.copyInto(b.cid, out, 0), { code: 'ERR_BLOCK_NOT_FOUND' })
  })

  it('keeps blocks shared by two pinned versions until neither is pinned', async t => {
    const store = tempStore(t)
    const v1 = pseudoRandom(200_000, 3)
    const v2 = Buffer.concat([v1.subarray(0, 100_000), Buffer.from('changed'), v1.subarray(100_000)])
    const r1 = await importBytes(store, v1, { chunker: SMALL_CHUNKS })
    const r2 = await importBytes(store, v2, { chunker: SMALL_CHUNKS })
    assert.ok(store.isPinned(r1.cid) && store.isPinned(r2.cid))
    const total = store.stat().blocks
    assert.equal(total, r1.blocks + r2.newBlocks)

    assert.deepEqual(await store.gc(), { removedBlocks: 0, removedBytes: 0 })
    assert.equal(await store.unpin(r1.cid), true)
    const gc1 = await store.gc()
    // only the blocks of v1 that v2 does not share go
    assert.equal(gc1.removedBlocks, r1.blocks - (r2.blocks - r2.newBlocks))
    assert.deepEqual(store.missing(r2.cid), [])
    assert.ok(store.missing(r1.cid).length > 0)
    assert.equal(store.isComplete(r1.cid), false, 'a root that lost blocks is no longer recorded complete')
    assert.equal(store.isComplete(r2.cid), true)

    assert.equal(await store.unpin(r2.cid), true)
    assert.equal(await store.unpin(r2.cid), false)
    await store.gc()
    assert.equal(store.stat().blocks, 0)
    assert.equal(store.stat().bytes, 0)
    assert.equal(store.stat().completeRoots, 0)
  })

  it('pins idempotently and refuses to pin or complete a DAG with missing blocks', async t => {
    const store = tempStore(t)
    const r = await importBytes(store, pseudoRandom(50_000, 4), { chunker: SMALL_CHUNKS, pin: false })
    assert.equal(store.isPinned(r.cid), false)
    assert.equal(store.isComplete(r.cid), true)
    await store.pin(r.cid)
    await store.pin(r.cid)
    assert.deepEqual([...store.pins()].map(String), [r.cid.toString()])
    const [info] = [...store.roots()]
    assert.equal(info?.size, 50_000)
    assert.equal(info?.pinned, true)
    await assert.rejects(store.delete(r.cid), { code: 'ERR_BLOCK_PINNED' })
    const missing = await rawBlock(99)
    await assert.rejects(store.pin(missing.cid), { code: 'ERR_BLOCK_NOT_FOUND' })
    await assert.rejects(store.markComplete(missing.cid), { code: 'ERR_BLOCK_NOT_FOUND' })
    assert.equal(store.isPinned(missing.cid), false)
  })

  it('keeps a root pinned until every owner of a pin has dropped it', async t => {
    const store = tempStore(t)
    const r = await importBytes(store, pseudoRandom(60_000, 5), { chunker: SMALL_CHUNKS, pin: false })
    await store.pin(r.cid, 'cache')
    await store.pin(r.cid) // the user pins what the cache holds
    await store.pin(r.cid, 'cache')
    assert.deepEqual(store.pinOwners(r.cid), ['cache', 'user'])
    assert.equal(store.isPinned(r.cid, 'cache'), true)
    assert.equal(store.isPinned(r.cid, 'collections'), false)
    assert.equal(await store.unpin(r.cid, 'collections'), false, 'an owner without a pin drops nothing')
    // the cache evicts: the user's pin stays, and so do the blocks
    assert.equal(await store.unpin(r.cid, 'cache'), true)
    assert.equal(store.isPinned(r.cid), true)
    assert.deepEqual(store.pinOwners(r.cid), ['user'])
    assert.deepEqual(await store.gc(), { removedBlocks: 0, removedBytes: 0 })
    assert.deepEqual(store.missing(r.cid), [])
    // the last owner lets go: GC takes every block
    assert.equal(await store.unpin(r.cid), true)
    assert.deepEqual(store.pinOwners(r.cid), [])
    assert.equal((await store.gc()).removedBlocks, r.blocks)
    await assert.rejects(store.pin(r.cid, ''), { code: 'ERR_INVALID_OPTION' })
  })

  it('fails a put with ERR_STORE_FULL only after GC of unpinned blocks could not make room', async t => {
    const store = tempStore(t, { capacity: 2500 })
    const a = await rawBlock(1)
    const b = await rawBlock(2)
    const c = await rawBlock(3)
    await store.putMany([a, b])
    await store.pin(a.cid)
    // b is unpinned: GC removes it to make room for c
    assert.deepEqual(await store.putMany([c]), { newBlocks: 1, newBytes: 1000 })
    assert.equal(await store.has(b.cid), false)
    await store.pin(c.cid)
    const d = await rawBlock(4, 1500)
    await assert.rejects(store.putMany([d]), { code: 'ERR_STORE_FULL' })
    assert.equal(await store.has(d.cid), false)
    assert.ok(await store.has(a.cid) && await store.has(c.cid), 'nothing stored is lost')
    assert.equal(store.stat().bytes, 2000)
  })

  it('does not collect the blocks of an import still running when it needs room', async t => {
    const store = tempStore(t, { capacity: 150_000 })
    await assert.rejects(importBytes(store, pseudoRandom(200_000, 8), { chunker: SMALL_CHUNKS }), { code: 'ERR_STORE_FULL' })
    // the failed import left unpinned blocks; the next import may collect them
    const ok = await importBytes(store, pseudoRandom(100_000, 9), { chunker: SMALL_CHUNKS })
    assert.deepEqual(store.missing(ok.cid), [])
  })

  it('persists across reopen and resolves the repo from option, CMESH_REPO, then ~/.cmesh', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const s1 = createStore({ repo })
    const r = await importBytes(s1, pseudoRandom(30_000, 5), { chunker: SMALL_CHUNKS })
    await s1.close()
    await assert.rejects(s1.get(r.cid), { code: 'ERR_STORE_CLOSED' })
    const s2 = createStore({ repo })
    t.after(async () => await s2.close())
    assert.ok(s2.isPinned(r.cid))
    assert.deepEqual(s2.missing(r.cid), [])
    assert.equal(resolveRepo(repo), repo)
    const saved = process.env.CMESH_REPO
    process.env.CMESH_REPO = join(dir, 'env-repo')
    t.after(() => { if (saved === undefined) delete process.env.CMESH_REPO; else process.env.CMESH_REPO = saved })
    assert.equal(resolveRepo(), join(dir, 'env-repo'))
    delete process.env.CMESH_REPO
    assert.match(resolveRepo(), /\.cmesh$/)
  })

  it('migrates a format 1 repository (blocks keyed by CID) on open, keeping pins and roots', async t => {
    const repo = join(tempDir(t), 'old')
    mkdirSync(repo)
    // build the file the previous cmesh wrote: the same blocks imported into a fresh store, laid out as format 1
    const donor = tempStore(t)
    const r = await importBytes(donor, pseudoRandom(40_000, 9), { chunker: SMALL_CHUNKS })
    const loose = await rawBlock(11, 700)
    const blocks = [...donor.entries(), loose]
    const env = open({ path: join(repo, 'store.mdb'), maxDbs: 8 })
    const old = env.openDB({ name: 'blocks', keyEncoding: 'binary', encoding: 'binary' })
    const sizes = env.openDB({ name: 'sizes', keyEncoding: 'binary' })
    const refs = env.openDB({ name: 'refs', keyEncoding: 'binary' })
    await env.transaction(() => {
      for (const b of blocks) {
        old.put(b.cid.bytes, b.bytes)
        sizes.put(b.cid.bytes, b.bytes.length)
        if (!b.cid.equals(loose.cid)) refs.put(b.cid.bytes, 1)
      }
      env.openDB({ name: 'pins', keyEncoding: 'binary' }).put(r.cid.bytes, 1)
      env.openDB({ name: 'roots', keyEncoding: 'binary' }).put(r.cid.bytes, { size: r.size, blocks: r.blocks, created: 1 })
      const meta = env.openDB({ name: 'meta' })
      meta.put('format', 1)
      meta.put('usage', { blocks: blocks.length, bytes: blocks.reduce((n, b) => n + b.bytes.length, 0) })
    })
    await env.close()

    const store = createStore({ repo })
    t.after(async () => { await store.close() })
    for (const b of blocks) assert.deepEqual(Buffer.from(store.getSync(b.cid)), Buffer.from(b.bytes))
    assert.ok(store.isPinned(r.cid))
    assert.deepEqual(store.pinOwners(r.cid), ['user'], 'a pin from before owners is the user\'s')
    // until the subsystem that made it claims it on start
    assert.equal(await store.adoptLegacyPin(r.cid, 'collections'), true)
    assert.deepEqual(store.pinOwners(r.cid), ['collections'])
    assert.equal(await store.adoptLegacyPin(r.cid, 'cache'), false, 'a pin with owners is nobody else\'s to adopt')
    assert.deepEqual(store.pinOwners(r.cid), ['collections'])
    assert.ok(store.isComplete(r.cid))
    assert.deepEqual(store.missing(r.cid), [])
    assert.equal(store.stat().blocks, blocks.length)
    // the unreferenced block is collectable, the pinned DAG is not; both behave as in a store written new
    assert.deepEqual(await store.gc(), { removedBlocks: 1, removedBytes: 700 })
    assert.equal(await store.has(loose.cid), false)
    assert.deepEqual(store.missing(r.cid), [])
    await store.close()
    const check = open({ path: join(repo, 'store.mdb'), maxDbs: 8, readOnly: true })
    t.after(async () => { await check.close() })
    assert.equal(check.openDB({ name: 'meta' }).get('format'), 2)
    assert.equal(check.openDB({ name: 'blocks', keyEncoding: 'binary' }).getCount(), 0)
    assert.equal(check.openDB({ name: 'sizes', keyEncoding: 'binary' }).getCount(), 0)
  })

  it('refuses an unreadable repository or one written by a newer format', async t => {
    const dir = tempDir(t)
    const file = join(dir, 'not-a-dir')
    writeFileSync(file, 'x')
    assert.throws(() => createStore({ repo: file }), { code: 'ERR_REPO_UNREADABLE' })
    const garbage = join(dir, 'garbage')
    mkdirSync(garbage)
    writeFileSync(join(garbage, 'store.mdb'), Buffer.alloc(64 * 1024, 7))
    assert.throws(() => createStore({ repo: garbage }), { code: 'ERR_REPO_UNREADABLE' })
    const newer = join(dir, 'newer')
    mkdirSync(newer)
    const env = open({ path: join(newer, 'store.mdb'), maxDbs: 8 })
    await env.openDB({ name: 'meta' }).put('format', 99)
    await env.close()
    assert.throws(() => createStore({ repo: newer }), { code: 'ERR_REPO_UNREADABLE' })
    assert.throws(() => createStore({ repo: join(dir, 'x'), capacity: 0 }), { code: 'ERR_INVALID_OPTION' })
    assert.throws(() => createStore({ repo: join(dir, 'x'), mapping: 'all' as 'whole' }), { code: 'ERR_INVALID_OPTION' })
  })

  it('reads and writes the same repository mapped whole or in chunks', async t => {
    const repo = join(tempDir(t), 'repo')
    const data = pseudoRandom(3 * 1024 * 1024, 71)
    const whole = createStore({ repo, mapping: 'whole' })
    const r = await importBytes(whole, data)
    assert.deepEqual(await collect(cat(whole, r.cid)), Buffer.from(data))
    await whole.close()
    const chunks = createStore({ repo, mapping: 'chunks' })
    assert.deepEqual(await collect(cat(chunks, r.cid)), Buffer.from(data))
    const more = pseudoRandom(1024 * 1024, 72)
    const r2 = await importBytes(chunks, more)
    await chunks.close()
    const again = createStore({ repo, mapping: 'whole' })
    t.after(async () => await again.close())
    assert.deepEqual(await collect(cat(again, r2.cid)), Buffer.from(more))
    const report = await verifyStore(again)
    assert.ok(report.ok, JSON.stringify(report))
    assert.ok(report.blocks > 0)
  })
})
