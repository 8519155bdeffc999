import assert from 'node:assert/strict'
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { CID } from 'multiformats/cid'
import { HASH_BLAKE3, HASH_SHA2_256, CODEC_RAW, CODEC_DAG_CBOR } from '../../src/dag/constants.js'
import { cat, exportTo, ls, resolvePath, stat } from '../../src/dag/exporter.js'
import { execFileSync } from 'node:child_process'
import { allocReadBuffer, cutAndHash } from '../../src/dag/chunker/chunk-pipeline.js'
import { chunkPool } from '../../src/dag/chunker/chunk-pool.js'
import { getHasher } from '../../src/dag/hashing.js'
import { importBytes, importPath, importStream } from '../../src/dag/importer.js'
import { decodeNode } from '../../src/dag/nodes.js'
import { verifyStore } from '../../src/dag/verify.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'
import { LARGE_FILE_CHUNKER } from '../../src/dag/constants.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

describe('import and export', () => {
  it('round-trips files of awkward sizes byte for byte', async t => {
    const store = tempStore(t)
    for (const size of [0, 1, 255, 256, 4095, 4096, 4097, 100_000]) {
      const data = pseudoRandom(size, size + 1)
      const r = await importBytes(store, data, { chunker: SMALL_CHUNKS })
      assert.equal(r.size, size)
      assert.deepEqual(await collect(cat(store, r.cid)), Buffer.from(data), `size ${size}`)
      assert.equal((await stat(store, r.cid)).size, size)
    }
  })

  it('stores a one-chunk file as its raw leaf, a larger one as a DAG-CBOR node with sized links', async t => {
    const store = tempStore(t)
    const small = await importBytes(store, pseudoRandom(100))
    assert.equal(small.cid.code, CODEC_RAW)
    assert.equal(small.cid.version, 1)
    assert.equal(small.cid.multihash.code, HASH_BLAKE3)
    const big = await importBytes(store, pseudoRandom(50_000), { chunker: SMALL_CHUNKS })
    assert.equal(big.cid.code, CODEC_DAG_CBOR)
    const node = decodeNode(big.cid, store.getSync(big.cid))
    assert.equal(node.type, 'file')
    if (node.type === 'file') assert.equal(node.links.reduce((s, l) => s + l.size, 0), 50_000)
  })

  it('selects SHA-256 when asked', async t => {
    const store = tempStore(t)
    const r = await importBytes(store, pseudoRandom(10_000), { hash: 'sha2-256', chunker: SMALL_CHUNKS })
    assert.equal(r.cid.multihash.code, HASH_SHA2_256)
    assert.deepEqual(await collect(cat(store, r.cid)), Buffer.from(pseudoRandom(10_000)))
  })

  it('splits files with many chunks into a balanced tree and still reads them back', async t => {
    const store = tempStore(t)
    const data = pseudoRandom(600_000, 9)
    const r = await importBytes(store, data, { chunker: SMALL_CHUNKS, fileFanout: 4 })
    const root = decodeNode(r.cid, store.getSync(r.cid))
    assert.ok(root.type === 'file' && root.links.length <= 4)
    assert.deepEqual(await collect(cat(store, r.cid)), Buffer.from(data))
  })

  it('gives the same CIDs whether a file is chunked on worker threads or not, whatever the data', async t => {
    const store = tempStore(t)
    const random = pseudoRandom(3 * 1024 * 1024 + 17, 4)
    const periodic = pseudoRandom(2 * 1024 * 1024, 5).map((_, i) => (i * 31) % 251)
    const mixed = Buffer.concat([random.subarray(0, 1_500_000), new Uint8Array(2_500_000), random.subarray(1_500_000)])
    for (const [name, data] of [['random', random], ['zeros', new Uint8Array(5 * 1024 * 1024)], ['periodic', periodic], ['mixed', mixed]] as const) {
      const a = await importBytes(store, data, { chunkWorker: true })
      const b = await importBytes(store, data, { chunkWorker: false })
      const parts = []
      for (let i = 0; i < data.length; i += 300_001) parts.push(data.slice(i, i + 300_001))
      const c = await importStream(store, parts, { totalBytes: data.length })
      assert.equal(a.cid.toString(), b.cid.toString(), name)
      assert.equal(a.cid.toString(), c.cid.toString(), name)
      assert.deepEqual(await collect(cat(store, a.cid)), Buffer.from(data), name)
    }
    // the pool can be stopped; the next import starts it again
    await chunkPool.close()
    const again = await importBytes(store, random, { chunkWorker: true })
    assert.equal(again.cid.toString(), (await importBytes(store, random, { chunkWorker: false })).cid.toString())
  })

  it('reads any byte range, touching only the blocks it needs (property)', async t => {
    const store = tempStore(t)
    const data = pseudoRandom(300_000, 5)
    const { cid } = await importBytes(store, data, { chunker: SMALL_CHUNKS, fileFanout: 8 })
    let reads = 0
    const counting = { getSync: (c: CID) => { reads++; return store.getSync(c) } }
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 310_000 }), fc.integer({ min: 0, max: 20_000 }), async (offset, length) => {
      reads = 0
      const got = await collect(cat(counting, cid, { offset, length }))
      assert.deepEqual(got, Buffer.from(data.subarray(offset, offset + length)))
      // root + one path of inner nodes + the leaves of the range (at most max+1 per 4 KiB chunk overlap)
      if (length > 0) assert.ok(reads <= 1 + 3 * 2 + Math.ceil(length / 256) + 2, `${reads} block reads for ${length} bytes`)
    }), { numRuns: 80 })
    reads = 0
    await collect(cat(counting, cid, { offset: 150_000, length: 10 }))
    assert.ok(reads <= 6, `a 10-byte read took ${reads} block reads`)
  })

  it('dedups across versions: an edited file adds only the chunks around the edit', async t => {
    const store = tempStore(t)
    const v1 = pseudoRandom(1_000_000, 11)
    const v2 = Buffer.concat([v1.subarray(0, 400_000), Buffer.from('a small patch'), v1.subarray(400_000)])
    const first = await importBytes(store, v1, { chunker: SMALL_CHUNKS })
    const second = await importBytes(store, v2, { chunker: SMALL_CHUNKS })
    assert.equal(first.newBytes >= v1.length, true)
    assert.ok(second.newBytes < 40_000, `the update added ${second.newBytes} bytes`)
    const again = await importBytes(store, v2, { chunker: SMALL_CHUNKS })
    assert.equal(again.newBytes, 0)
    assert.equal(again.newBlocks, 0)
    assert.equal(again.cid.toString(), second.cid.toString())
  })

  it('reuses read buffers of large files only once their chunks are stored: every block still matches its CID', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    // several store batches (8 MiB each) per file, so buffers go back to the reader while it still reads;
    // two files one after the other, the second reading into the first's buffers
    for (const seed of [21, 22]) {
      const data = pseudoRandom(26 * 1024 * 1024 + 5, seed)
      const path = join(dir, `big-${seed}.bin`)
      writeFileSync(path, data)
      const r = await importPath(store, path)
      assert.equal(r.cid.toString(), (await importBytes(tempStore(t), data)).cid.toString())
      assert.deepEqual(await collect(cat(store, r.cid)), Buffer.from(data))
    }
    const report = await verifyStore(store)
    assert.deepEqual(report.corrupt, [])
    assert.ok(report.ok)
    // files this large are cut at LARGE_FILE_CHUNKER sizes: at least one block per two averages
    assert.ok(report.blocks > 2 * (26 * 1024 * 1024) / (2 * LARGE_FILE_CHUNKER.avgSize), `${report.blocks} blocks verified`)
  })

  it('imports a tree with names, modes, sizes and symlinks, and exports it identically', async t => {
    const dir = tempDir(t)
    const src = join(dir, 'src')
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true })
    writeFileSync(join(src, 'a.txt'), 'hello\n')
    writeFileSync(join(src, 'sub', 'big.bin'), pseudoRandom(70_000, 2))
    writeFileSync(join(src, 'sub', 'deeper', 'empty'), '')
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho hi\n')
    chmodSync(join(src, 'run.sh'), 0o755)
    symlinkSync('../a.txt', join(src, 'sub', 'link-to-a'))
    symlinkSync('/etc/passwd', join(src, 'abs-link'))
    const store = tempStore(t)
    const r = await importPath(store, src, { chunker: SMALL_CHUNKS })
    assert.equal(r.size, 6 + 70_000 + 0 + 18)
    const names = []
    for await (const e of ls(store, r.cid)) names.push(`${e.kind}:${e.name}`)
    assert.deepEqual(names, ['file:a.txt', 'symlink:abs-link', 'file:run.sh', 'dir:sub'])
    const out = join(dir, 'out')
    await exportTo(store, r.cid, out)
    assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'hello\n')
    assert.deepEqual(readFileSync(join(out, 'sub', 'big.bin')), Buffer.from(pseudoRandom(70_000, 2)))
    assert.equal(statSync(join(out, 'run.sh')).mode & 0o777, 0o755)
    assert.equal(statSync(join(out, 'a.txt')).mode & 0o777, 0o644)
    assert.equal(readFileSync(join(out, 'sub', 'deeper', 'empty')).length, 0)
    assert.ok(lstatSync(join(out, 'sub', 'link-to-a')).isSymbolicLink())
    assert.equal(readlinkSync(join(out, 'sub', 'link-to-a')), '../a.txt')
    assert.equal(readlinkSync(join(out, 'abs-link')), '/etc/passwd')
    const file = await resolvePath(store, r.cid, 'sub/big.bin')
    assert.equal(file.kind, 'file')
    assert.deepEqual(await collect(cat(store, file.cid, { offset: 69_990 })), Buffer.from(pseudoRandom(70_000, 2).subarray(69_990)))
    await assert.rejects(resolvePath(store, r.cid, 'sub/nope'), { code: 'ERR_NOT_IN_DAG' })
    await assert.rejects(collect(cat(store, r.cid)), { code: 'ERR_NOT_IN_DAG' })
  })

  it('imports a package with thousands of files as one root CID, splitting big directories', async t => {
    const dir = tempDir(t)
    const src = join(dir, 'pkg')
    for (let d = 0; d < 3; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true })
      for (let f = 0; f < 1100; f++) writeFileSync(join(src, `d${d}`, `file-${f}.js`), `module.exports = ${d * 10_000 + f}\n`)
    }
    const store = tempStore(t)
    const r = await importPath(store, src, { dirFanout: 256 })
    assert.equal(r.cid.code, CODEC_DAG_CBOR)
    const d1 = await resolvePath(store, r.cid, 'd1')
    const node = decodeNode(d1.cid, store.getSync(d1.cid))
    assert.ok(node.type === 'dir' && node.parts !== undefined && node.count === 1100, 'a 1100-entry directory is split into parts')
    let count = 0
    let previous = ''
    for await (const e of ls(store, d1.cid)) {
      assert.ok(Buffer.compare(Buffer.from(previous), Buffer.from(e.name)) < 0)
      previous = e.name
      count++
    }
    assert.equal(count, 1100)
    const f = await resolvePath(store, r.cid, 'd2/file-1099.js')
    assert.equal(Buffer.from(await collect(cat(store, f.cid))).toString(), 'module.exports = 21099\n')
    const out = join(dir, 'out')
    await exportTo(store, r.cid, out)
    assert.equal(readFileSync(join(out, 'd0', 'file-7.js'), 'utf8'), 'module.exports = 7\n')
  })

  for (const format of ['cmesh', 'unixfs'] as const) {
    it(`${format}: a changed or added entry in a large directory costs small directory blocks, not the whole listing`, async t => {
      const dir = tempDir(t)
      const src = join(dir, 'flat')
      mkdirSync(src)
      for (let f = 0; f < 1000; f++) writeFileSync(join(src, `module-${f}.js`), `module.exports = ${f}\n`)
      const store = tempStore(t)
      const before = await importPath(store, src, { format })
      writeFileSync(join(src, 'module-500.js'), 'module.exports = "changed"\n')
      writeFileSync(join(src, 'module-new.js'), 'module.exports = "new"\n')
      const after = await importPath(store, src, { format })
      assert.notEqual(after.cid.toString(), before.cid.toString())
      // a plain listing of 1000 entries is about 40 KB; two changed entries resend a few small nodes
      assert.ok(after.newBytes < 8000, `${after.newBytes} new bytes for two entries of 1001`)
      assert.ok(after.newBlocks <= 12, `${after.newBlocks} new blocks`)
      const names = []
      for await (const e of ls(store, after.cid)) names.push(e.name)
      assert.equal(names.length, 1001)
      assert.equal(Buffer.from(await collect(cat(store, (await resolvePath(store, after.cid, 'module-500.js')).cid))).toString(), 'module.exports = "changed"\n')
      assert.equal((await verifyStore(store)).ok, true)
    })
  }

  it('reports progress and honours an abort signal', async t => {
    const store = tempStore(t)
    const events: string[] = []
    await importBytes(store, pseudoRandom(20_000), { chunker: SMALL_CHUNKS, onProgress: e => events.push(e.type) })
    assert.equal(events[0], 'import:start')
    assert.ok(events.includes('import:bytes'))
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(importBytes(store, pseudoRandom(20_000, 3), { chunker: SMALL_CHUNKS, signal: controller.signal }), { code: 'ERR_ABORTED' })
  })

  it('skips sockets and FIFOs inside a tree and refuses one given as the path', async t => {
    const dir = tempDir(t)
    mkdirSync(join(dir, 'tree'))
    writeFileSync(join(dir, 'tree', 'a'), 'a')
    execFileSync('mkfifo', [join(dir, 'tree', 'fifo')])
    const store = tempStore(t)
    const skipped: string[] = []
    const r = await importPath(store, join(dir, 'tree'), { onProgress: e => { if (e.type === 'import:skip') skipped.push(e.path) } })
    assert.deepEqual(skipped, [join(dir, 'tree', 'fifo')])
    const names = []
    for await (const e of ls(store, r.cid)) names.push(e.name)
    assert.deepEqual(names, ['a'])
    await assert.rejects(importPath(store, join(dir, 'tree', 'fifo')), { code: 'ERR_UNSUPPORTED_FILE_TYPE' })
  })

  it('refuses a pipeline read buffer yielded twice (it has moved to a worker)', async () => {
    const buf = allocReadBuffer(2 * 1024 * 1024)
    buf.set(pseudoRandom(buf.length, 6))
    const hasher = await getHasher('blake3')
    const twice = (function * () { yield buf; yield buf })()
    await assert.rejects((async () => { for await (const b of cutAndHash(twice, { hasher, parallel: true })) void b })(), { code: 'ERR_DETACHED_INPUT' })
  })

  it('refuses bad options and missing paths with typed errors', async t => {
    const store = tempStore(t)
    await assert.rejects(importBytes(store, new Uint8Array(10), { fileFanout: 1 }), { code: 'ERR_INVALID_OPTION' })
    await assert.rejects(importBytes(store, new Uint8Array(10), { chunker: { avgSize: 1000 } }), { code: 'ERR_INVALID_OPTION' })
    await assert.rejects(importBytes(store, new Uint8Array(10), { hash: 'md5' as 'blake3' }), { code: 'ERR_UNSUPPORTED_HASH' })
    await assert.rejects(importPath(store, '/nonexistent/cmesh'), { code: 'ERR_PATH_NOT_FOUND' })
    const { cid } = await importBytes(store, new Uint8Array(10))
    await assert.rejects(collect(cat(store, cid, { offset: -1 })), { code: 'ERR_INVALID_OPTION' })
    await assert.rejects(ls(store, cid).next(), { code: 'ERR_NOT_IN_DAG' })
  })

  it('skips an entry whose name (or symlink target) is not UTF-8 and imports the rest of the tree', async t => {
    const dir = tempDir(t)
    const tree = join(dir, 'tree')
    mkdirSync(tree)
    writeFileSync(join(tree, 'normal.txt'), 'normal\n')
    const bad = Buffer.from([0x66, 0xff, 0x6f]) // 'f', a byte no UTF-8 text has, 'o'
    writeFileSync(Buffer.concat([Buffer.from(tree + '/'), bad]), 'not UTF-8\n')
    symlinkSync(Buffer.concat([Buffer.from('target-'), bad]), join(tree, 'link'))
    const store = tempStore(t)
    const skipped: Array<{ path: string, reason: string }> = []
    const r = await importPath(store, tree, { onProgress: e => { if (e.type === 'import:skip') skipped.push({ path: e.path, reason: e.reason }) } })
    assert.deepEqual(skipped.map(s => s.reason).sort(), ['name is not valid UTF-8', 'symlink target is not valid UTF-8'])
    assert.ok(skipped.some(s => s.path === join(tree, 'f\ufffdo')), JSON.stringify(skipped))
    const names = []
    for await (const e of ls(store, r.cid)) names.push(`${e.kind}:${e.name}`)
    assert.deepEqual(names, ['file:normal.txt'])
    assert.equal(r.size, 7)
    const f = await resolvePath(store, r.cid, 'normal.txt')
    assert.equal(Buffer.from(await collect(cat(store, f.cid))).toString(), 'normal\n')
  })
})
