import assert from 'node:assert/strict'
import { chmod, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { balanced } from 'ipfs-unixfs-importer/layout'
import type { CID } from 'multiformats/cid'
import { chunkBytes } from '../../src/dag/chunker/index.js'
import { cidOf } from '../../src/dag/cid.js'
import { getHasher } from '../../src/dag/hashing.js'
import { CODEC_DAG_PB, CODEC_RAW, HASH_BLAKE3 } from '../../src/dag/constants.js'
import { cat, exportTo, ls, resolvePath } from '../../src/dag/exporter.js'
import { importBytes, importPath, importStream } from '../../src/dag/importer.js'
import { decodeUnixfs, UnixfsFileBuilder, writeUnixfsDirectory } from '../../src/dag/unixfs/index.js'
import { HAMT_WRITE_BITS } from '../../src/dag/unixfs/constants.js'
import { verifyStore } from '../../src/dag/verify.js'
import type { Blockstore } from '../../src/store/interface.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'
import { unixfsFixture } from '../helpers/unixfs.js'
import { gzipFile, packageFiles, tarOf, writeTree } from './archive-helpers.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

/**
 * A file's bytes read with @ipld/dag-pb and ipfs-unixfs alone (not cmesh's reader): raw leaves, file nodes with
 * inline data and links, in order.
 */
function plainRead (store: Blockstore, cid: CID): Buffer {
  const bytes = store.getSync(cid)
  if (cid.code === CODEC_RAW) return Buffer.from(bytes)
  const pb = dagPb.decode(bytes)
  const fs = UnixFS.unmarshal(pb.Data!)
  assert.equal(fs.type, 'file')
  return Buffer.concat([fs.data ?? new Uint8Array(0), ...pb.Links.map(l => plainRead(store, l.Hash))])
}

/** A directory entry's CID read with @ipld/dag-pb and ipfs-unixfs alone. */
function plainLookup (store: Blockstore, dir: CID, name: string): CID {
  const pb = dagPb.decode(store.getSync(dir))
  assert.equal(UnixFS.unmarshal(pb.Data!).type, 'directory')
  const link = pb.Links.find(l => l.Name === name)
  assert.ok(link !== undefined, `${name} in ${dir}`)
  return link.Hash
}

/** Depth of a UnixFS file tree (a raw leaf is 0). */
function depth (store: Blockstore, cid: CID): number {
  if (cid.code === CODEC_RAW) return 0
  const links = dagPb.decode(store.getSync(cid)).Links
  return 1 + Math.max(0, ...links.map(l => depth(store, l.Hash)))
}

describe('writing UnixFS', () => {
  it('a small file is its raw leaf; a multi-level file reads back through cmesh and through the plain packages', async t => {
    const store = tempStore(t)
    const small = new TextEncoder().encode('hello unixfs\n')
    const one = await importBytes(store, small, { format: 'unixfs', hash: 'sha2-256' })
    assert.equal(one.cid.code, CODEC_RAW)
    assert.deepEqual(await collect(cat(store, one.cid)), Buffer.from(small))

    const data = pseudoRandom(200_000, 7)
    const big = await importBytes(store, data, { format: 'unixfs', hash: 'sha2-256', chunker: SMALL_CHUNKS, fileFanout: 4 })
    assert.equal(big.cid.code, CODEC_DAG_PB)
    assert.ok(depth(store, big.cid) >= 3, `depth ${depth(store, big.cid)}`)
    assert.equal(big.size, data.length)
    assert.deepEqual(await collect(cat(store, big.cid)), Buffer.from(data))
    assert.deepEqual(await collect(cat(store, big.cid, { offset: 70_000, length: 50_001 })), Buffer.from(data.subarray(70_000, 120_001)))
    assert.deepEqual(plainRead(store, big.cid), Buffer.from(data))
    const root = decodeUnixfs(big.cid, store.getSync(big.cid))
    assert.ok(root.type === 'file' && root.children.length <= 4)

    // the same bytes as a stream: same CID
    const streamed = await importStream(store, [data.subarray(0, 1000), data.subarray(1000)], { format: 'unixfs', hash: 'sha2-256', chunker: SMALL_CHUNKS, fileFanout: 4 })
    assert.equal(streamed.cid.toString(), big.cid.toString())
    // cmesh's own format over the same chunks stores only its own nodes: the raw leaves are shared
    const own = await importBytes(store, data, { hash: 'sha2-256', chunker: SMALL_CHUNKS, fileFanout: 4 })
    assert.notEqual(own.cid.code, CODEC_DAG_PB)
    assert.ok(own.newBytes < data.length / 10 && own.newBlocks < own.blocks / 2, `cmesh format added ${own.newBlocks} blocks, ${own.newBytes} bytes over the UnixFS import`)
    assert.deepEqual((await verifyStore(store)).corrupt, [])
  })

  it('gives the CIDs ipfs-unixfs-importer gives the same chunks (balanced layout, raw leaves, CIDv1)', async t => {
    const store = tempStore(t)
    for (const [size, fanout] of [[1_500, 4], [30_000, 4], [64 * 1024, 8], [120_000, 3]] as const) {
      const data = pseudoRandom(size, size)
      const ours = await importBytes(store, data, { format: 'unixfs', hash: 'sha2-256', chunker: SMALL_CHUNKS, fileFanout: fanout })
      const chunks = chunkBytes(data, SMALL_CHUNKS)
      const reference = await unixfsFixture([{ content: data }], {
        rawLeaves: true,
        cidVersion: 1,
        chunker: async function * () { yield * chunks },
        layout: balanced({ maxChildrenPerNode: fanout })
      })
      assert.equal(ours.cid.toString(), reference.root.toString(), `${size} bytes, ${chunks.length} chunks, fanout ${fanout}`)
    }
  })

  it('a tree (modes, symlink, empty file, BLAKE3) lists, reads, exports and verifies; plain directories match the reference', async t => {
    const dir = tempDir(t)
    const src = join(dir, 'site')
    await mkdir(join(src, 'docs'), { recursive: true })
    const big = pseudoRandom(90_000, 11)
    await writeFile(join(src, 'big.bin'), big)
    await writeFile(join(src, 'docs', 'guide.md'), '# guide\n')
    await writeFile(join(src, 'empty'), '')
    await writeFile(join(src, 'run.sh'), '#!/bin/sh\necho hi\n')
    await chmod(join(src, 'run.sh'), 0o755)
    await symlink('big.bin', join(src, 'latest'))
    const tool = pseudoRandom(20_000, 13) // several chunks, a mode on its root node
    await writeFile(join(src, 'tool'), tool)
    await chmod(join(src, 'tool'), 0o700)

    const store = tempStore(t)
    const r = await importPath(store, src, { format: 'unixfs', chunker: SMALL_CHUNKS })
    assert.equal(r.cid.code, CODEC_DAG_PB)
    assert.equal(r.cid.multihash.code, HASH_BLAKE3)
    assert.equal(r.size, big.length + 8 + 18 + tool.length)
    const listed = []
    for await (const e of ls(store, r.cid)) listed.push(`${e.kind} ${e.mode.toString(8)} ${e.name}${e.target === undefined ? '' : ' -> ' + e.target}`)
    assert.deepEqual(listed, ['file 644 big.bin', 'dir 755 docs', 'file 644 empty', 'symlink 777 latest -> big.bin', 'file 755 run.sh', 'file 700 tool'])
    assert.deepEqual(plainRead(store, plainLookup(store, r.cid, 'big.bin')), Buffer.from(big))
    assert.equal(plainRead(store, plainLookup(store, r.cid, 'run.sh')).toString(), '#!/bin/sh\necho hi\n')
    assert.equal(UnixFS.unmarshal(dagPb.decode(store.getSync(plainLookup(store, r.cid, 'run.sh'))).Data!).mode, 0o755)

    const out = join(dir, 'out')
    await exportTo(store, r.cid, out)
    assert.deepEqual(await readFile(join(out, 'big.bin')), Buffer.from(big))
    assert.equal(await readFile(join(out, 'docs', 'guide.md'), 'utf8'), '# guide\n')
    assert.equal((await readFile(join(out, 'empty'))).length, 0)
    assert.equal(await readlink(join(out, 'latest')), 'big.bin')
    assert.equal((await lstat(join(out, 'run.sh'))).mode & 0o777, 0o755)
    assert.deepEqual(await readFile(join(out, 'tool')), Buffer.from(tool))
    assert.equal((await lstat(join(out, 'tool'))).mode & 0o777, 0o700)
    assert.deepEqual(plainRead(store, plainLookup(store, r.cid, 'tool')), Buffer.from(tool))
    assert.deepEqual((await verifyStore(store)).corrupt, [])

    // without modes or symlinks, the directory CIDs are the reference importer's for the same chunks
    const plain = join(dir, 'plain')
    await mkdir(join(plain, 'sub'), { recursive: true })
    const a = pseudoRandom(10_000, 12)
    await writeFile(join(plain, 'a.bin'), a)
    await writeFile(join(plain, 'sub', 'b.txt'), 'bee\n')
    const ours = await importPath(store, plain, { format: 'unixfs', hash: 'sha2-256', chunker: SMALL_CHUNKS, fileFanout: 4 })
    const byContent = new Map([[a.length, chunkBytes(a, SMALL_CHUNKS)], [4, [new TextEncoder().encode('bee\n')]]])
    const reference = await unixfsFixture([{ path: 'a.bin', content: a }, { path: 'sub/b.txt', content: new TextEncoder().encode('bee\n') }], {
      rawLeaves: true,
      cidVersion: 1,
      wrapWithDirectory: true,
      chunker: async function * (source) {
        const parts: Uint8Array[] = []
        for await (const p of source) parts.push(p)
        yield * byContent.get(parts.reduce((s, p) => s + p.length, 0))!
      },
      layout: balanced({ maxChildrenPerNode: 4 })
    })
    assert.equal(ours.cid.toString(), reference.root.toString())
  })

  it('stores a .tgz as its bytes (no archive recipe in UnixFS)', async t => {
    const dir = tempDir(t)
    const tgz = gzipFile(join(dir, 'pkg.tgz'), tarOf(dirname(writeTree(dir, packageFiles(1)))))
    const store = tempStore(t)
    const r = await importPath(store, tgz, { format: 'unixfs', chunker: SMALL_CHUNKS })
    assert.equal(r.archive, undefined)
    assert.equal(r.cid.code, CODEC_DAG_PB)
    assert.deepEqual(await collect(cat(store, r.cid)), await readFile(tgz))
    const own = await importPath(store, tgz, { chunker: SMALL_CHUNKS })
    assert.equal(own.archive?.stored, 'recipe') // cmesh's format stores it member by member with a recipe
  })

  it('refuses an unknown format; the builders write an empty file with a mode and a directory with a symlink', async t => {
    const store = tempStore(t)
    await assert.rejects(importBytes(store, new Uint8Array(3), { format: 'car' as 'unixfs' }), { code: 'ERR_INVALID_OPTION' })
    const hasher = await getHasher('sha2-256')
    const emit = async (bytes: Uint8Array): Promise<CID> => {
      const cid = cidOf(hasher, CODEC_DAG_PB, bytes)
      await store.put(cid, bytes)
      return cid
    }
    const empty = await new UnixfsFileBuilder(4, emit).finish(0o600)
    assert.ok(empty !== undefined && empty.size === 0)
    assert.deepEqual(decodeUnixfs(empty.cid, store.getSync(empty.cid)), { type: 'file', size: 0, data: new Uint8Array(0), children: [], mode: 0o600 })
    assert.equal(await new UnixfsFileBuilder(4, emit).finish(), undefined)
    const d = await writeUnixfsDirectory(emit, [{ name: 'l', kind: 'symlink', target: 'x', size: 0, mode: 0o777 }])
    assert.equal(d.size, 0)
    assert.ok(d.tsize > 0)
  })
  it('writes a large directory HAMT-sharded, as ipfs-unixfs-importer does, and reads it back', async t => {
    const store = tempStore(t)
    const hasher = await getHasher('sha2-256')
    const emit = async (bytes: Uint8Array): Promise<CID> => {
      const cid = cidOf(hasher, CODEC_DAG_PB, bytes)
      await store.put(cid, bytes)
      return cid
    }
    const files = Array.from({ length: 300 }, (_, i) => ({ name: `file-${i}.txt`, content: new TextEncoder().encode(`content ${i}\n`) }))
    const entries = []
    for (const f of files) {
      const r = await importBytes(store, f.content, { format: 'unixfs', hash: 'sha2-256' })
      entries.push({ name: f.name, kind: 'file' as const, cid: r.cid, size: r.size, tsize: r.size, mode: 0o644 })
    }
    const threshold = 2000
    // Kubo's 256 slots a shard, and the 16 cmesh writes by default
    for (const bits of [8, HAMT_WRITE_BITS]) {
      const sharded = await writeUnixfsDirectory(emit, entries, undefined, threshold, bits)
      const reference = await unixfsFixture(files.map(f => ({ path: f.name, content: f.content })), {
        rawLeaves: true, cidVersion: 1, wrapWithDirectory: true, shardSplitThresholdBytes: threshold, shardFanoutBits: bits
      })
      assert.equal(sharded.cid.toString(), reference.root.toString(), `${1 << bits} slots a shard`)
      const root = decodeUnixfs(sharded.cid, store.getSync(sharded.cid))
      assert.ok(root.type === 'hamt' && root.fanout === 1 << bits)
    }
    const dir = await writeUnixfsDirectory(emit, entries, undefined, threshold)
    const names = []
    for await (const e of ls(store, dir.cid)) names.push(e.name)
    assert.deepEqual(names.sort(), files.map(f => f.name).sort())
    assert.equal(Buffer.from(await collect(cat(store, (await resolvePath(store, dir.cid, 'file-123.txt')).cid))).toString(), 'content 123\n')
    // under the threshold: a plain directory
    const small = await writeUnixfsDirectory(emit, entries.slice(0, 3), undefined, threshold)
    assert.equal(decodeUnixfs(small.cid, store.getSync(small.cid)).type, 'dir')
  })
})
