import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import zlib from 'node:zlib'
import { ArchiveRebuildError } from '../../src/errors.js'
import { inflateRaw } from '../../src/dag/archive/gzip.js'
import { memberPath } from '../../src/dag/archive/tar.js'
import { exportCar, importCar } from '../../src/dag/car.js'
import { cidOf } from '../../src/dag/cid.js'
import { CODEC_DAG_CBOR } from '../../src/dag/constants.js'
import { cat, exportTo, ls, resolvePath, stat } from '../../src/dag/exporter.js'
import { getHasher } from '../../src/dag/hashing.js'
import { importPath } from '../../src/dag/importer.js'
import { chunkLocations } from '../../src/dag/locations.js'
import { decodeNode, encodeArchiveNode, type ArchiveNode } from '../../src/dag/nodes.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'
import { gzipFile, packageFiles, sha256, sourceText, tarOf, writeTree, zipOf } from './archive-helpers.js'

describe('archive-aware import of gzip-compressed tar', () => {
  it('rebuilds archives made by zlib at several levels byte for byte, from members and a recipe', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(1))
    const tar = tarOf(dir)
    const store = tempStore(t)
    for (const options of [{ level: 1 }, { level: 6 }, { level: 9 }, { level: 9, memLevel: 9 }, { level: 4, strategy: zlib.constants.Z_FILTERED }]) {
      const path = gzipFile(join(dir, `pkg-${options.level}.tgz`), tar, options)
      const r = await importPath(store, path)
      assert.equal(r.archive?.stored, 'recipe', JSON.stringify(options))
      assert.equal(r.archive?.settings?.level, options.level)
      assert.equal(r.size, readFileSync(path).length)
      assert.equal(sha256(await collect(cat(store, r.cid))), sha256(readFileSync(path)))
      const node = decodeNode(r.cid, store.getSync(r.cid)) as ArchiveNode
      assert.equal(node.type, 'archive')
      assert.equal(node.content.size, tar.length)
      assert.deepEqual(await collect(cat(store, node.content.cid)), Buffer.from(tar), 'the content is the uncompressed tar')
      assert.equal((await stat(store, r.cid)).kind, 'file')
    }
  })

  it('reads a byte range of a rebuilt archive', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(2))
    const path = gzipFile(join(dir, 'pkg.tgz'), tarOf(dir), { level: 6 })
    const store = tempStore(t)
    const r = await importPath(store, path)
    const whole = readFileSync(path)
    assert.deepEqual(await collect(cat(store, r.cid, { offset: 1000, length: 5000 })), whole.subarray(1000, 6000))
    assert.deepEqual(await collect(cat(store, r.cid, { offset: whole.length - 3 })), whole.subarray(whole.length - 3))
    assert.equal((await collect(cat(store, r.cid, { length: 0 }))).length, 0)
  })

  it('stores archives from system tar czf and gzip -9 byte-identical, by recipe or raw', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(3))
    execFileSync('tar', ['-C', dir, '-czf', join(dir, 'a.tgz'), 'pkg'])
    writeFileSync(join(dir, 'b.tar'), tarOf(dir))
    execFileSync('gzip', ['-9', '-k', join(dir, 'b.tar')])
    const store = tempStore(t)
    for (const name of ['a.tgz', 'b.tar.gz']) {
      const path = join(dir, name)
      const r = await importPath(store, path)
      assert.ok(r.archive !== undefined, 'recognised by content')
      if (r.archive.stored === 'raw') assert.equal(r.archive.reason, 'ERR_ARCHIVE_NOT_REPRODUCIBLE')
      assert.equal(sha256(await collect(cat(store, r.cid))), sha256(readFileSync(path)), name)
    }
  })

  it('falls back to the raw bytes when no zlib setting reproduces the stream', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(4))
    const tar = tarOf(dir)
    // a valid gzip that zlib never writes unasked: a full flush in the middle of the stream
    const deflate = zlib.createDeflateRaw({ level: 6 })
    const parts: Buffer[] = []
    deflate.on('data', (b: Buffer) => parts.push(b))
    deflate.write(tar.subarray(0, 100_000))
    await new Promise<void>(resolve => deflate.flush(zlib.constants.Z_FULL_FLUSH, () => resolve()))
    deflate.end(tar.subarray(100_000))
    await new Promise(resolve => deflate.on('end', resolve))
    const header = zlib.gzipSync(Buffer.alloc(0)).subarray(0, 10)
    const trailer = Buffer.alloc(8)
    trailer.writeUInt32LE(zlib.crc32(tar), 0)
    trailer.writeUInt32LE(tar.length, 4)
    const path = join(dir, 'flushed.tgz')
    writeFileSync(path, Buffer.concat([header, ...parts, trailer]))
    assert.deepEqual(zlib.gunzipSync(readFileSync(path)), tar, 'a valid gzip')
    const store = tempStore(t)
    const r = await importPath(store, path)
    assert.deepEqual(r.archive, { format: 'tar+gzip', stored: 'raw', reason: 'ERR_ARCHIVE_NOT_REPRODUCIBLE' })
    assert.deepEqual(await collect(cat(store, r.cid)), readFileSync(path))
    const raw = await importPath(store, path, { raw: true })
    assert.equal(raw.archive, undefined)
    assert.ok(raw.cid.equals(r.cid), 'the fallback is the plain file')
  })

  it('stores hostile archives as their bytes with a typed reason, or leaves unsafe members out of the tree', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(5))
    const tar = Buffer.from(tarOf(dir))
    const store = tempStore(t)
    const check = async (name: string, bytes: Uint8Array, reason: string | undefined): Promise<void> => {
      const path = join(dir, name)
      writeFileSync(path, bytes)
      const r = await importPath(store, path)
      assert.equal(r.archive?.reason, reason, name)
      assert.deepEqual(await collect(cat(store, r.cid)), Buffer.from(bytes), name)
    }
    // a member's size field claims more than the archive holds (checksum fixed, so only the size lies)
    const huge = Buffer.from(tar)
    const second = 512 * (1 + Math.ceil(readSize(huge, 0) / 512))
    huge.write('77777777777\0', second + 124, 'latin1')
    fixChecksum(huge, second)
    await check('huge.tgz', zlib.gzipSync(huge), 'ERR_ARCHIVE_INVALID')
    // a header whose checksum is wrong, after a good first member
    const bad = Buffer.from(tar)
    bad[second + 10] = bad[second + 10]! ^ 0xff
    await check('bad-header.tgz', zlib.gzipSync(bad), 'ERR_ARCHIVE_INVALID')
    // cut short inside the deflate stream
    const whole = zlib.gzipSync(tar)
    await check('truncated.tgz', whole.subarray(0, whole.length - 2000), 'ERR_ARCHIVE_INVALID')
    // two gzip members one after the other: no recipe covers them
    await check('multi.tgz', Buffer.concat([zlib.gzipSync(tar.subarray(0, 4096)), zlib.gzipSync(tar.subarray(4096))]), 'ERR_ARCHIVE_NOT_REPRODUCIBLE')
    // bytes after the gzip member: the recipe rebuilds the member, the bytes after it are a delta
    await check('trailing.tgz', Buffer.concat([whole, Buffer.alloc(700)]), undefined)
    assert.equal((await importPath(store, join(dir, 'trailing.tgz'))).archive?.deltaBytes, 700)
    // not a tar inside: stored as a plain file, no archive report
    const plain = join(dir, 'log.gz')
    writeFileSync(plain, zlib.gzipSync(sourceText(50_000, 3)))
    assert.equal((await importPath(store, plain)).archive, undefined)
    // members named ../escape and /etc/passwd: kept in the bytes, left out of the tree
    const evil = Buffer.from(tar)
    renameMember(evil, 0, '../escape')
    renameMember(evil, second, '/etc/passwd')
    const path = join(dir, 'evil.tgz')
    writeFileSync(path, zlib.gzipSync(evil))
    const r = await importPath(store, path)
    assert.equal(r.archive?.stored, 'recipe')
    assert.equal(r.archive?.skipped, 2)
    assert.deepEqual(await collect(cat(store, r.cid)), readFileSync(path))
    const names = await listAll(store, r.cid)
    assert.ok(names.every(n => !n.includes('..') && !n.startsWith('/')), names.join(','))
  })

  it('turns member names into safe tree paths or none', () => {
    const path = (name: string): string[] | undefined => memberPath(Buffer.from(name))
    assert.deepEqual(path('./package/lib//a.js'), ['package', 'lib', 'a.js'])
    assert.equal(path('../x'), undefined)
    assert.equal(path('a/../../x'), undefined)
    assert.equal(path('/etc/passwd'), undefined)
    assert.equal(path('a\\b'), undefined)
    assert.equal(path('./'), undefined)
    assert.equal(memberPath(Buffer.from([0x61, 0xff])), undefined, 'not UTF-8')
    assert.equal(path('a/'.repeat(100) + 'x')?.length, 101)
    assert.equal(path('a/'.repeat(300) + 'x'), undefined, 'deeper than the tree is built')
  })

  it('reads long names (pax and GNU), symlinks and hard links into the member tree', async t => {
    const dir = tempDir(t)
    const long = 'd'.repeat(90) + '/' + 'n'.repeat(120) + '.txt'
    const tree = writeTree(dir, { [long]: 'long name\n', 'target.txt': 'the target\n' })
    symlinkSync('target.txt', join(tree, 'link'))
    linkSync(join(tree, 'target.txt'), join(tree, 'hard.txt'))
    const store = tempStore(t)
    for (const format of ['pax', 'gnu']) {
      const tar = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', `--format=${format}`, '-C', dir, '-cf', '-', 'pkg'])
      const path = gzipFile(join(dir, `${format}.tgz`), tar, { level: 6 })
      const r = await importPath(store, path)
      assert.equal(r.archive?.stored, 'recipe', format)
      assert.equal(r.archive?.skipped, 0, format)
      assert.equal(Buffer.from(await collect(cat(store, (await resolvePath(store, r.cid, `pkg/${long}`)).cid))).toString(), 'long name\n', format)
      const link = await resolvePath(store, r.cid, 'pkg/link')
      assert.deepEqual([link.kind, link.entry?.target], ['symlink', 'target.txt'], format)
      const hard = await resolvePath(store, r.cid, 'pkg/hard.txt')
      const target = await resolvePath(store, r.cid, 'pkg/target.txt')
      assert.ok(hard.cid.equals(target.cid), `${format}: a hard link is the file it names`)
      assert.deepEqual(await collect(cat(store, r.cid)), readFileSync(path))
    }
  })

  it('stops an archive import when its signal aborts', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(13))
    const path = gzipFile(join(dir, 'pkg.tgz'), tarOf(dir), { level: 9 })
    const store = tempStore(t)
    const controller = new AbortController()
    const started = importPath(store, path, { signal: controller.signal, onProgress: () => controller.abort() })
    await assert.rejects(started, { code: 'ERR_ABORTED' })
    assert.equal([...store.roots()].length, 0, 'nothing recorded complete')
  })

  it('refuses to expand a gzip bomb past its cap', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(10_000_000))
    await assert.rejects(collect(inflateRaw([bomb], 1_000_000)), { code: 'ERR_ARCHIVE_TOO_LARGE' })
    assert.equal((await collect(inflateRaw([bomb], 10_000_000))).length, 10_000_000)
  })

  it('lists members and reads one, verified, without rebuilding the archive', async t => {
    const dir = tempDir(t)
    const files = packageFiles(6)
    writeTree(dir, files)
    const path = gzipFile(join(dir, 'pkg.tgz'), tarOf(dir), { level: 9 })
    const store = tempStore(t)
    const r = await importPath(store, path)
    assert.deepEqual((await collect2(ls(store, r.cid))).map(e => e.name), ['pkg'])
    assert.deepEqual(await listAll(store, r.cid), ['pkg/README.md', 'pkg/data/blob.bin', 'pkg/lib/index.js', 'pkg/lib/util.js', 'pkg/package.json'])
    const member = await resolvePath(store, r.cid, 'pkg/lib/index.js')
    assert.equal(member.kind, 'file')
    assert.equal(Buffer.from(await collect(cat(store, member.cid))).toString(), files['lib/index.js'])
    const target = join(dir, 'out')
    await exportTo(store, (await resolvePath(store, r.cid, 'pkg')).cid, target)
    assert.deepEqual(readFileSync(join(target, 'data', 'blob.bin')), Buffer.from(files['data/blob.bin'] as Uint8Array))
    await assert.rejects(resolvePath(store, r.cid, 'pkg/nope'), { code: 'ERR_NOT_IN_DAG' })
  })

  it('shares blocks between two versions of an archive and with the unpacked tree', async t => {
    const dir1 = tempDir(t)
    const dir2 = tempDir(t)
    const tree2 = writeTree(dir2, packageFiles(7, '\nexport const added = 1\n'))
    writeTree(dir1, packageFiles(7))
    const v1 = gzipFile(join(dir1, 'v1.tgz'), tarOf(dir1), { level: 9 })
    const v2 = gzipFile(join(dir2, 'v2.tgz'), tarOf(dir2), { level: 9 })
    const store = tempStore(t)
    await importPath(store, v1)
    const second = await importPath(store, v2)
    const size = readFileSync(v2).length
    const rawStore = tempStore(t)
    await importPath(rawStore, v1, { raw: true })
    const rawSecond = await importPath(rawStore, v2, { raw: true })
    assert.ok(rawSecond.newBytes > size * 0.8, `raw: a holder of v1 lacks ${rawSecond.newBytes} bytes of ${size}`)
    assert.ok(second.newBytes < rawSecond.newBytes / 2, `a holder of v1 lacks ${second.newBytes} bytes of ${size}`)
    // the unpacked tree of v2 first: the archive then adds little more than its tar headers and nodes
    const treeStore = tempStore(t)
    const tree = await importPath(treeStore, tree2)
    const archive = await importPath(treeStore, v2)
    assert.ok(archive.newBytes < 16_384, `after the tree, the archive adds ${archive.newBytes} bytes`)
    for (const f of ['lib/index.js', 'data/blob.bin', 'README.md']) {
      const inTree = await resolvePath(treeStore, tree.cid, f)
      const inArchive = await resolvePath(treeStore, archive.cid, `pkg/${f}`)
      assert.ok(inTree.cid.equals(inArchive.cid), f)
    }
  })

  it('cuts a member of several MiB as the plain file is cut (on the chunk workers), so the tree and the archive share it', async t => {
    const dir = tempDir(t)
    const big = pseudoRandom(3 * 1024 * 1024 + 77, 31)
    const tree = writeTree(dir, { 'big.bin': big, 'small.txt': sourceText(5000, 3) })
    const path = gzipFile(join(dir, 'big.tgz'), tarOf(dir), { level: 1 })
    const store = tempStore(t)
    const plain = await importPath(store, tree)
    const archive = await importPath(store, path)
    assert.equal(archive.archive?.stored, 'recipe')
    const inTree = await resolvePath(store, plain.cid, 'big.bin')
    const inArchive = await resolvePath(store, archive.cid, 'pkg/big.bin')
    assert.ok(inTree.cid.equals(inArchive.cid))
    assert.ok(archive.newBytes < 64 * 1024, `the archive adds ${archive.newBytes} bytes to its tree`)
    assert.deepEqual(await collect(cat(store, inArchive.cid)), Buffer.from(big))
    assert.equal(sha256(await collect(cat(store, archive.cid))), sha256(readFileSync(path)))
  })

  it('carries every block a rebuild needs through a CAR, and rejects a rebuild that does not match', async t => {
    const dir = tempDir(t)
    writeTree(dir, packageFiles(8))
    const path = gzipFile(join(dir, 'pkg.tgz'), tarOf(dir), { level: 6 })
    const a = tempStore(t)
    const r = await importPath(a, path)
    const car = join(dir, 'pkg.car')
    await exportCar(a, r.cid, car)
    const b = tempStore(t)
    await importCar(b, car)
    assert.deepEqual(await collect(cat(b, r.cid)), readFileSync(path))
    assert.deepEqual((await chunkLocations(b, r.cid)).size, 0, 'no mirror offsets for an archive\'s chunks')
    // the same content and recipe under a wrong SHA-256: the rebuild is refused at its end
    const node = decodeNode(r.cid, a.getSync(r.cid)) as ArchiveNode
    const forged = encodeArchiveNode({ ...node, sha256: new Uint8Array(32) })
    const cid = cidOf(await getHasher('blake3'), CODEC_DAG_CBOR, forged)
    await a.putMany([{ cid, bytes: forged }])
    await assert.rejects(collect(cat(a, cid)), (err: Error) => err instanceof ArchiveRebuildError && (err as ArchiveRebuildError).code === 'ERR_ARCHIVE_REBUILD')
  })
})

async function collect2<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of source) out.push(x)
  return out
}

async function listAll (store: ReturnType<typeof tempStore>, root: import('multiformats/cid').CID, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for await (const e of ls(store, root)) {
    const p = prefix === '' ? e.name : `${prefix}/${e.name}`
    if (e.kind === 'dir') out.push(...await listAll(store, e.cid!, p))
    else out.push(p)
  }
  return out
}

function readSize (tar: Buffer, at: number): number {
  return parseInt(tar.subarray(at + 124, at + 136).toString('latin1').replace(/\0.*$/, '').trim(), 8)
}

function fixChecksum (tar: Buffer, at: number): void {
  tar.fill(0x20, at + 148, at + 156)
  let sum = 0
  for (let i = 0; i < 512; i++) sum += tar[at + i]!
  tar.write(sum.toString(8).padStart(6, '0') + '\0 ', at + 148, 'latin1')
}

function renameMember (tar: Buffer, at: number, name: string): void {
  tar.fill(0, at, at + 100)
  tar.fill(0, at + 345, at + 500)
  tar.write(name, at, 'latin1')
  fixChecksum(tar, at)
}

describe('archive-aware import of zip and ar', () => {
  it('cuts a zip at member boundaries: rebuilt by concatenation, unchanged members shared between versions', async t => {
    const dir = tempDir(t)
    const v1 = packageFiles(12)
    const v2 = { ...v1, 'README.md': 'changed\n' + (v1['README.md'] as string) }
    const z1 = join(dir, 'a-1.whl')
    const z2 = join(dir, 'a-2.whl')
    writeFileSync(z1, zipOf(v1))
    writeFileSync(z2, zipOf(v2))
    const store = tempStore(t)
    const r1 = await importPath(store, z1)
    assert.deepEqual(r1.archive, { format: 'zip', stored: 'members', members: 5 })
    assert.deepEqual(await collect(cat(store, r1.cid)), readFileSync(z1))
    const r2 = await importPath(store, z2)
    assert.deepEqual(await collect(cat(store, r2.cid)), readFileSync(z2))
    const rawStore = tempStore(t)
    await importPath(rawStore, z1, { raw: true })
    const raw2 = await importPath(rawStore, z2, { raw: true })
    assert.ok(r2.newBytes < raw2.newBytes, `members: ${r2.newBytes} new bytes, raw: ${raw2.newBytes}`)
    assert.ok(r2.newBytes < readFileSync(z2).length / 4, `members: ${r2.newBytes} of ${readFileSync(z2).length}`)
    // a zip whose index points past its end is imported as it is
    const broken = zipOf(v1)
    broken.writeUInt32LE(broken.length * 2, broken.length - 6)
    writeFileSync(join(dir, 'broken.zip'), broken)
    const b = await importPath(store, join(dir, 'broken.zip'))
    assert.equal(b.archive, undefined)
    assert.deepEqual(await collect(cat(store, b.cid)), broken)
  })

  it('cuts an ar archive (a .deb) at member boundaries', async t => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'debian-binary'), '2.0\n')
    writeFileSync(join(dir, 'control.tar.gz'), zlib.gzipSync(sourceText(3001, 1)))
    writeFileSync(join(dir, 'data.tar.gz'), zlib.gzipSync(sourceText(90_000, 2)))
    const deb = join(dir, 'pkg.deb')
    execFileSync('ar', ['rc', deb, 'debian-binary', 'control.tar.gz', 'data.tar.gz'], { cwd: dir })
    const store = tempStore(t)
    const r = await importPath(store, deb)
    assert.deepEqual(r.archive, { format: 'ar', stored: 'members', members: 3 })
    assert.deepEqual(await collect(cat(store, r.cid)), readFileSync(deb))
    const truncated = readFileSync(deb).subarray(0, 200)
    writeFileSync(join(dir, 'cut.deb'), truncated)
    const c = await importPath(store, join(dir, 'cut.deb'))
    assert.equal(c.archive, undefined)
    assert.deepEqual(await collect(cat(store, c.cid)), truncated)
  })
})
