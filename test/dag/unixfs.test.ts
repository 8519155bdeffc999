import assert from 'node:assert/strict'
import { lstat, readFile, readlink, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, trickle } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as raw from 'multiformats/codecs/raw'
import { importCar, walkDag } from '../../src/dag/car.js'
import { cat, exportTo, ls, resolvePath, stat } from '../../src/dag/exporter.js'
import { blockLinks } from '../../src/dag/links.js'
import { MAX_FILE_DEPTH, HamtBits, readUnixfsDir, decodeUnixfs } from '../../src/dag/unixfs/index.js'
import { verifyStore } from '../../src/dag/verify.js'
import type { Blockstore } from '../../src/store/interface.js'
import { pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'
import { storeFixture, unixfsFixture, writeFixtureCar } from '../helpers/unixfs.js'

async function readAll (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return Buffer.concat(parts)
}

async function entries (store: Blockstore, cid: CID): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = []
  for await (const e of ls(store, cid)) out.push({ name: e.name, kind: e.kind, size: e.size, mode: e.mode, target: e.target })
  return out
}

/** A DAG-PB block of `data` (UnixFS) and `links`, stored; its CID. */
async function putPb (store: Blockstore, data: UnixFS, links: dagPb.PBLink[] = []): Promise<CID> {
  const bytes = dagPb.encode(dagPb.prepare({ Data: data.marshal(), Links: links }))
  const cid = CID.createV1(dagPb.code, await sha256.digest(bytes))
  await store.put(cid, bytes)
  return cid
}

async function putRaw (store: Blockstore, bytes: Uint8Array): Promise<CID> {
  const cid = CID.createV1(raw.code, await sha256.digest(bytes))
  await store.put(cid, bytes)
  return cid
}

const BIG = pseudoRandom(50_000, 3)

describe('UnixFS: reading what IPFS tools write', () => {
  it('lists, reads (with ranges), resolves, exports and verifies a tree with raw leaves', async t => {
    const store = tempStore(t)
    const fixture = await unixfsFixture([
      { path: 'site/big.bin', content: BIG },
      { path: 'site/readme.txt', content: new TextEncoder().encode('hello unixfs\n'), mode: 0o600 },
      { path: 'site/empty', content: new Uint8Array(0) },
      { path: 'site/docs/guide.md', content: new TextEncoder().encode('# guide\n'), mtime: { secs: 1_700_000_000n } },
      { path: 'site/latest', link: 'big.bin' }
    ], { rawLeaves: true, cidVersion: 1, chunker: fixedSize({ chunkSize: 1000 }), layout: balanced({ maxChildrenPerNode: 4 }) })
    const root = await storeFixture(store, fixture)
    assert.equal(root.code, dagPb.code)
    assert.deepEqual(store.missing(root), [], 'the store walks DAG-PB links: the DAG is complete')

    const info = await stat(store, root)
    const top = await readUnixfsDir(store, root)
    assert.ok(top.type === 'dir')
    const docsTsize = top.links.find(l => l.name === 'docs')!.tsize
    assert.ok(docsTsize > 8, 'a directory\'s size is the block bytes its parent records')
    assert.equal(info.size, top.links.reduce((sum, l) => sum + l.tsize, 0))
    assert.equal(info.kind, 'dir')
    assert.equal(info.entries, 5)
    assert.deepEqual(await entries(store, root), [
      { name: 'big.bin', kind: 'file', size: 50_000, mode: 0o644, target: undefined },
      { name: 'docs', kind: 'dir', size: docsTsize, mode: 0o755, target: undefined },
      { name: 'empty', kind: 'file', size: 0, mode: 0o644, target: undefined },
      { name: 'latest', kind: 'symlink', size: 0, mode: 0o644, target: 'big.bin' },
      { name: 'readme.txt', kind: 'file', size: 13, mode: 0o600, target: undefined }
    ])

    const big = await resolvePath(store, root, 'big.bin')
    assert.equal(big.kind, 'file')
    assert.deepEqual(await readAll(cat(store, big.cid)), Buffer.from(BIG))
    for (const [offset, length] of [[0, 1], [999, 2], [1000, 1000], [12_345, 20_000], [49_999, 10], [50_000, 5], [60_000, 1], [7, 0]] as const) {
      assert.deepEqual(await readAll(cat(store, big.cid, { offset, length })), Buffer.from(BIG.subarray(offset, offset + length)), `range ${offset}+${length}`)
    }
    assert.equal((await readAll(cat(store, (await resolvePath(store, root, 'docs/guide.md')).cid))).toString(), '# guide\n')
    await assert.rejects(readAll(cat(store, root)), { code: 'ERR_NOT_IN_DAG' })
    await assert.rejects(async () => { for await (const _ of ls(store, big.cid)) break }, { code: 'ERR_NOT_IN_DAG', message: /is a file, not a directory/ })
    await assert.rejects(resolvePath(store, root, 'nope'), { code: 'ERR_NOT_IN_DAG' })
    await assert.rejects(resolvePath(store, root, 'latest/x'), { code: 'ERR_NOT_IN_DAG' })

    const out = join(tempDir(t), 'out')
    await exportTo(store, root, out)
    assert.deepEqual((await readdir(out)).sort(), ['big.bin', 'docs', 'empty', 'latest', 'readme.txt'])
    assert.deepEqual(await readFile(join(out, 'big.bin')), Buffer.from(BIG))
    assert.equal(await readFile(join(out, 'docs', 'guide.md'), 'utf8'), '# guide\n')
    assert.equal((await lstat(join(out, 'readme.txt'))).mode & 0o777, 0o600)
    assert.equal((await lstat(join(out, 'empty'))).size, 0)
    assert.equal(await readlink(join(out, 'latest')), 'big.bin')

    const report = await verifyStore(store)
    assert.equal(report.ok, true)
    assert.equal(report.blocks, fixture.blocks.length)

    // GC follows DAG-PB links: a pinned UnixFS DAG keeps every block it links (the importer also wrote the raw
    // leaves of the two small files it then inlined, for their mode and mtime: those go), an unpinned one loses all
    let reachable = 0
    for await (const _ of walkDag(store, root)) reachable++
    assert.ok(reachable < fixture.blocks.length)
    assert.equal((await store.gc()).removedBlocks, fixture.blocks.length - reachable)
    assert.equal((await readAll(cat(store, (await resolvePath(store, root, 'readme.txt')).cid))).toString(), 'hello unixfs\n')
    await store.unpin(root)
    assert.equal((await store.gc()).removedBlocks, reachable)
  })

  it('reads DAG-PB leaves, CIDv0 and trickle DAGs, and single-leaf files', async t => {
    const store = tempStore(t)
    const fixture = await unixfsFixture([
      { path: 'd/trickle.bin', content: BIG },
      { path: 'd/one.txt', content: new TextEncoder().encode('one leaf') }
    ], {
      rawLeaves: false,
      cidVersion: 0,
      reduceSingleLeafToSelf: false,
      chunker: fixedSize({ chunkSize: 700 }),
      layout: trickle({ maxChildrenPerNode: 3, layerRepeat: 2 })
    })
    const root = await storeFixture(store, fixture)
    assert.equal(root.version, 0)
    assert.ok(fixture.blocks.every(b => b.cid.code === dagPb.code), 'no raw leaves')
    const file = (await resolvePath(store, root, 'trickle.bin')).cid
    assert.deepEqual(await readAll(cat(store, file)), Buffer.from(BIG))
    assert.deepEqual(await readAll(cat(store, file, { offset: 31_000, length: 4321 })), Buffer.from(BIG.subarray(31_000, 35_321)))
    assert.equal((await readAll(cat(store, (await resolvePath(store, root, 'one.txt')).cid))).toString(), 'one leaf')
    assert.equal((await stat(store, file)).size, 50_000)
  })

  it('reads HAMT-sharded directories, and finds a name by its hash path alone', async t => {
    const store = tempStore(t)
    const names = Array.from({ length: 400 }, (_, i) => `file-${i}.txt`)
    const fixture = await unixfsFixture(
      names.map(name => ({ path: `big-dir/${name}`, content: new TextEncoder().encode(`content of ${name}\n`) })),
      { rawLeaves: true, cidVersion: 1, shardSplitThresholdBytes: 100, shardFanoutBits: 4 }
    )
    const root = await storeFixture(store, fixture)
    const top = await readUnixfsDir(store, root)
    assert.equal(top.type, 'hamt')
    assert.ok(top.type === 'hamt' && top.links.some(l => l.name === undefined), 'the HAMT has sub-shards')

    const listed = await entries(store, root)
    assert.deepEqual(listed.map(e => e.name).sort(), [...names].sort())
    assert.ok(listed.every(e => e.kind === 'file'))

    // a lookup reads the shards on the name's path and the entry's root block, not the whole directory
    let reads = 0
    const counting = { getSync: (cid: CID) => { reads++; return store.getSync(cid) } }
    const shards = fixture.blocks.filter(b => b.cid.code === dagPb.code).length
    for (const name of ['file-0.txt', 'file-217.txt', 'file-399.txt']) {
      reads = 0
      const found = await resolvePath(counting, root, name)
      assert.equal((await readAll(cat(store, found.cid))).toString(), `content of ${name}\n`)
      assert.ok(reads <= 6 && reads < shards, `${reads} blocks read for one lookup (of ${shards} shards)`)
    }
    await assert.rejects(resolvePath(store, root, 'file-400.txt'), { code: 'ERR_NOT_IN_DAG' })

    const out = join(tempDir(t), 'out')
    await exportTo(store, root, out)
    assert.equal((await readdir(out)).length, 400)
    assert.equal(await readFile(join(out, 'file-123.txt'), 'utf8'), 'content of file-123.txt\n')

    // the bits a name takes: the first byte of murmur3-x64-64, top bit first
    const bits = new HamtBits('file-0.txt')
    const first = await bits.take(4)
    assert.ok(first >= 0 && first < 16)
    assert.equal(await new HamtBits('file-0.txt').take(8) >> 4, first)
    const long = new HamtBits('x')
    for (let i = 0; i < 20; i++) assert.ok(await long.take(8) < 256, 'past 64 bits the name is hashed again')
  })

  it('imports a CAR of UnixFS and verifies SHA-256 blocks; a corrupt one is named', async t => {
    const store = tempStore(t)
    const fixture = await unixfsFixture([{ path: 'r/f.bin', content: BIG }], { rawLeaves: true, chunker: fixedSize({ chunkSize: 4096 }) })
    const car = join(tempDir(t), 'x.car')
    await writeFixtureCar(fixture, car)
    const imported = await importCar(store, car)
    assert.deepEqual(imported.complete.map(String), [fixture.root.toString()])
    const file = (await resolvePath(store, fixture.root, 'f.bin')).cid
    const leaf = fixture.blocks.find(b => b.cid.code === raw.code)!
    assert.equal(leaf.cid.multihash.code, sha256.code)
    const bad = Uint8Array.from(leaf.bytes)
    bad[0] = bad[0]! ^ 1
    await store.unpin(fixture.root)
    await store.delete(leaf.cid)
    await store.put(leaf.cid, bad)
    await assert.rejects(readAll(cat(store, file)), (err: Error & { code?: string }) => err.code === 'ERR_BLOCK_CORRUPT' && err.message.includes(leaf.cid.toString()))
    const report = await verifyStore(store)
    assert.deepEqual(report.corrupt.map(String), [leaf.cid.toString()])
  })

  it('refuses unsafe names, lying sizes and trees too deep, as for its own format', async t => {
    const store = tempStore(t)
    const leaf = await putRaw(store, new TextEncoder().encode('payload'))
    const evilDir = await putPb(store, new UnixFS({ type: 'directory' }), [{ Name: '../evil', Hash: leaf, Tsize: 7 }])
    assert.throws(() => blockLinks(evilDir, store.getSync(evilDir)), { code: 'ERR_INVALID_NODE', message: /dot|contains \// })
    await assert.rejects(entries(store, evilDir), { code: 'ERR_INVALID_NODE' })
    const out = join(tempDir(t), 'out')
    await assert.rejects(exportTo(store, evilDir, out), { code: 'ERR_INVALID_NODE' })
    await assert.rejects(lstat(out), { code: 'ENOENT' }, 'nothing is left behind')
    const report = await verifyStore(store)
    assert.deepEqual(report.invalid.map(i => i.cid.toString()), [evilDir.toString()])

    const evilShard = await putPb(store, new UnixFS({ type: 'hamt-sharded-directory', fanout: 16n, data: new Uint8Array(2) }), [{ Name: 'A..', Hash: leaf, Tsize: 7 }])
    await assert.rejects(entries(store, evilShard), { code: 'ERR_INVALID_NODE', message: /dot name/ })
    const badFanout = await putPb(store, new UnixFS({ type: 'hamt-sharded-directory', fanout: 3n }))
    await assert.rejects(entries(store, badFanout), { code: 'ERR_INVALID_NODE', message: /fanout/ })

    // a file node that says its leaf holds more than it does
    const liar = await putPb(store, new UnixFS({ type: 'file', blockSizes: [9n] }), [{ Hash: leaf, Tsize: 7 }])
    await assert.rejects(readAll(cat(store, liar)), { code: 'ERR_INVALID_NODE', message: /parent says 9/ })
    const mismatch = await putPb(store, new UnixFS({ type: 'file', blockSizes: [7n, 7n] }), [{ Hash: leaf, Tsize: 7 }])
    assert.throws(() => decodeUnixfs(mismatch, store.getSync(mismatch)), { code: 'ERR_INVALID_NODE', message: /1 links but 2 block sizes/ })

    let node = leaf
    for (let i = 0; i <= MAX_FILE_DEPTH + 1; i++) node = await putPb(store, new UnixFS({ type: 'file', blockSizes: [7n] }), [{ Hash: node, Tsize: 7 }])
    await assert.rejects(readAll(cat(store, node)), { code: 'ERR_INVALID_NODE', message: /deeper than/ })

    const link = await putPb(store, new UnixFS({ type: 'symlink', data: new TextEncoder().encode('/etc/passwd') }))
    await assert.rejects(stat(store, link), { code: 'ERR_NOT_IN_DAG', message: /symlink/ })
    const notUnixfs = await putPb(store, new UnixFS({ type: 'file' }), [])
    assert.deepEqual(blockLinks(notUnixfs, store.getSync(notUnixfs)), [])
    const plain = dagPb.encode({ Links: [{ Hash: leaf }] })
    const plainCid = CID.createV1(dagPb.code, await sha256.digest(plain))
    assert.deepEqual(blockLinks(plainCid, plain).map(String), [leaf.toString()], 'plain DAG-PB (no UnixFS data) is walked')
    await assert.rejects(stat(store, await putPb(store, new UnixFS({ type: 'metadata' }))), { code: 'ERR_INVALID_NODE', message: /metadata/ })
  })
})
