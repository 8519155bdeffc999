import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import zlib from 'node:zlib'
import { ArchiveRebuildError, InvalidNodeError } from '../../src/errors.js'
import { candidateSettings, commonPrefix, deflateStream, deflateSync } from '../../src/dag/archive/gzip.js'
import { cidOf } from '../../src/dag/cid.js'
import { CODEC_DAG_CBOR } from '../../src/dag/constants.js'
import { cat } from '../../src/dag/exporter.js'
import { getHasher } from '../../src/dag/hashing.js'
import { importPath } from '../../src/dag/importer.js'
import { decodeNode, encodeArchiveNode, type ArchiveNode } from '../../src/dag/nodes.js'
import { collect, tempDir, tempStore } from '../helpers/temp.js'
import { canonicalDeflate as canonical, gzipAround, packageFiles, sha256, sourceText, syncFlushedGzip, tarOf, writeTree } from './archive-helpers.js'

async function * pieces (data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size)
}

describe('gzip recipes: canonical zlib and deltas', () => {
  it('rebuilds an archive canonical zlib made (as npm published before Node bundled Chromium\'s zlib), where Node\'s zlib differs', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(11))
    const tar = tarOf(dir)
    const store = tempStore(t)
    for (const [level, xfl] of [[9, 2], [6, 0]] as const) {
      const deflated = canonical(tar, level)
      assert.notDeepEqual(zlib.deflateRawSync(tar, { level }), Buffer.from(deflated), 'Node\'s zlib writes other bytes')
      const path = join(dir, `pkg-${level}.tgz`)
      writeFileSync(path, gzipAround([deflated], tar, xfl, 255))
      const r = await importPath(store, path)
      assert.equal(r.archive?.stored, 'recipe')
      assert.deepEqual(r.archive?.settings, { compressor: 'canonical', level, memLevel: 8, windowBits: 15, strategy: 0 })
      assert.equal(sha256(await collect(cat(store, r.cid))), sha256(readFileSync(path)))
      const node = decodeNode(r.cid, store.getSync(r.cid)) as ArchiveNode
      assert.equal(node.gzip.compressor, 'canonical')
      assert.equal(node.delta, undefined)
    }
  })

  it('deflates a stream the same whatever its input pieces, with either compressor', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(12))
    const tar = tarOf(dir)
    for (const s of candidateSettings(2).filter(s => s.level === 9 && s.windowBits === 15 && s.strategy === 0)) {
      const whole = deflateSync(s, tar, true)
      const streamed = Buffer.concat(await collect2(deflateStream(s, pieces(tar, 7000))))
      assert.deepEqual(streamed, Buffer.from(whole), JSON.stringify(s))
      assert.equal(commonPrefix(streamed, whole), whole.length)
    }
    const a = Buffer.from('abcdefgh'.repeat(100))
    const b = Buffer.from(a)
    b[517] = 0
    assert.equal(commonPrefix(a, b), 517)
    assert.equal(commonPrefix(a, a.subarray(0, 10)), 10)
  })

  it('stores the bytes past what the nearest recipe rebuilds as a delta, and rebuilds the archive exactly', async t => {
    const dir = tempDir(t)
    writeTree(dir, { ...packageFiles(13), 'lib/more.js': sourceText(600_000, 21) }) // several deflate blocks
    const tar = tarOf(dir)
    // zlib at level 9 with a sync flush near the end: the blocks from there on are not what zlib writes unasked
    const path = join(dir, 'flushed.tgz')
    const file = await syncFlushedGzip(tar, 40_000)
    writeFileSync(path, file)
    const store = tempStore(t)
    const r = await importPath(store, path)
    assert.equal(r.archive?.stored, 'delta')
    assert.equal(r.archive?.settings?.compressor, 'node')
    const deltaBytes = r.archive?.deltaBytes ?? 0
    assert.ok(deltaBytes > 0 && deltaBytes < file.length / 2, `delta of ${deltaBytes} bytes of ${file.length}`)
    assert.deepEqual(await collect(cat(store, r.cid)), file)
    const node = decodeNode(r.cid, store.getSync(r.cid)) as ArchiveNode
    assert.equal(node.delta?.keep, file.length - deltaBytes)
    const keep = node.delta!.keep
    // ranges across the seam, and within the stored tail (read from it alone)
    assert.deepEqual(await collect(cat(store, r.cid, { offset: keep - 100, length: 300 })), file.subarray(keep - 100, keep + 200))
    assert.deepEqual(await collect(cat(store, r.cid, { offset: keep + 10, length: 50 })), file.subarray(keep + 10, keep + 60))
    assert.deepEqual(await collect(cat(store, r.cid, { offset: 5, length: 50 })), file.subarray(5, 55))

    // a node whose delta points at other bytes is refused when rebuilt; one whose delta does not add up, when decoded
    const other = await importPath(store, join(dir, 'pkg', 'README.md'))
    const forged = encodeArchiveNode({ ...node, delta: { keep: node.size - other.size, tail: { cid: other.cid, size: other.size } } })
    const forgedCid = cidOf(await getHasher('blake3'), CODEC_DAG_CBOR, forged)
    await store.putMany([{ cid: forgedCid, bytes: forged }])
    await assert.rejects(collect(cat(store, forgedCid)), (err: Error) => err instanceof ArchiveRebuildError)
    // an archive node not proven here is verified whole before any byte is served, even for a range it could stop short of
    const wrongHash = encodeArchiveNode({ ...node, sha256: new Uint8Array(32) })
    const wrongCid = cidOf(await getHasher('blake3'), CODEC_DAG_CBOR, wrongHash)
    await store.putMany([{ cid: wrongCid, bytes: wrongHash }])
    let served = 0
    await assert.rejects((async () => { for await (const b of cat(store, wrongCid, { offset: 0, length: 100 })) served += b.length })(), ArchiveRebuildError)
    assert.equal(served, 0, 'no byte of an unverified archive is served')
    // a stream far larger than any import of an archive that size would inflate: refused unread
    const bomb = encodeArchiveNode({ ...node, content: { ...node.content, size: 2 ** 40 } })
    const bombCid = cidOf(await getHasher('blake3'), CODEC_DAG_CBOR, bomb)
    await store.putMany([{ cid: bombCid, bytes: bomb }])
    await assert.rejects(collect(cat(store, bombCid)), ArchiveRebuildError)
    const bad = encodeArchiveNode({ ...node, delta: { keep: keep + 1, tail: node.delta!.tail } })
    const badCid = cidOf(await getHasher('blake3'), CODEC_DAG_CBOR, bad)
    assert.throws(() => decodeNode(badCid, bad), InvalidNodeError)
  })

  it('stores an archive as it is when the recipe rebuilds too little of it for a delta to pay', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(14))
    const tar = tarOf(dir)
    const cut = 20_000 // a full flush early: the rest of the stream starts afresh, unlike anything zlib writes unasked
    const deflate = zlib.createDeflateRaw({ level: 6 })
    const parts: Buffer[] = []
    deflate.on('data', (b: Buffer) => parts.push(b))
    deflate.write(tar.subarray(0, cut))
    await new Promise<void>(resolve => deflate.flush(zlib.constants.Z_FULL_FLUSH, () => resolve()))
    deflate.end(tar.subarray(cut))
    await new Promise(resolve => deflate.on('end', resolve))
    const path = join(dir, 'early.tgz')
    writeFileSync(path, gzipAround(parts, tar, 0, 3))
    const store = tempStore(t)
    const r = await importPath(store, path)
    assert.deepEqual(r.archive, { format: 'tar+gzip', stored: 'raw', reason: 'ERR_ARCHIVE_NOT_REPRODUCIBLE' })
    assert.deepEqual(await collect(cat(store, r.cid)), readFileSync(path))
  })
})

async function collect2<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of source) out.push(x)
  return out
}
