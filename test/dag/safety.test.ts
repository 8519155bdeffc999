import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { cidOf } from '../../src/dag/cid.js'
import { exportTo } from '../../src/dag/exporter.js'
import { getHasher } from '../../src/dag/hashing.js'
import { importBytes, importPath } from '../../src/dag/importer.js'
import { decodeNode, encodeDirNode } from '../../src/dag/nodes.js'
import type { Blockstore } from '../../src/store/interface.js'
import { tempDir, tempStore } from '../helpers/temp.js'

/** Store a hand-made DAG-CBOR value, as a hostile peer could. */
async function putNode (store: Blockstore, value: unknown): Promise<CID> {
  const bytes = dagCbor.encode(value)
  const cid = cidOf(await getHasher('blake3'), 0x71, bytes)
  await store.put(cid, bytes)
  return cid
}

describe('strict node decoding', () => {
  it('rejects nodes outside the schema', async t => {
    const store = tempStore(t)
    const leaf = (await importBytes(store, new TextEncoder().encode('x'))).cid
    const entry = (name: string, over: { kind?: number, ref?: unknown, size?: number, mode?: number } = {}): unknown[] =>
      [name, over.kind ?? 0, over.ref ?? leaf, over.size ?? 1, over.mode ?? 0o644]
    const bad: Array<[string, unknown]> = [
      ['extra field', { type: 'file', size: 1, links: [[leaf, 1]], extra: 1 }],
      ['sizes that do not add up', { type: 'file', size: 2, links: [[leaf, 1]] }],
      ['no links', { type: 'file', size: 0, links: [] }],
      ['negative size', { type: 'file', size: -1, links: [[leaf, -1]] }],
      ['unknown type', { type: 'blob', size: 1 }],
      ['link not a CID', { type: 'file', size: 1, links: [['bafy', 1]] }],
      ['unsorted entries', { type: 'dir', size: 2, entries: [entry('b'), entry('a')] }],
      ['repeated names', { type: 'dir', size: 2, entries: [entry('a'), entry('a')] }],
      ['dot-dot name', { type: 'dir', size: 1, entries: [entry('..')] }],
      ['empty name', { type: 'dir', size: 1, entries: [entry('')] }],
      ['slash in name', { type: 'dir', size: 1, entries: [entry('a/b')] }],
      ['absolute name', { type: 'dir', size: 1, entries: [entry('/etc')] }],
      ['NUL in name', { type: 'dir', size: 1, entries: [entry('a\0b')] }],
      ['mode out of range', { type: 'dir', size: 1, entries: [entry('a', { mode: 0o100644 })] }],
      ['symlink with a cid', { type: 'dir', size: 0, entries: [entry('l', { kind: 2, size: 0 })] }],
      ['unknown kind', { type: 'dir', size: 1, entries: [entry('a', { kind: 7 })] }],
      ['entry as a map', { type: 'dir', size: 1, entries: [{ name: 'a', kind: 'file', cid: leaf, size: 1, mode: 0o644 }] }],
      ['file entry without a CID', { type: 'dir', size: 1, entries: [entry('a', { ref: 'x' })] }]
    ]
    const good = dagCbor.encode({ type: 'dir', size: 1, entries: [entry('a')] })
    assert.equal(decodeNode(cidOf(await getHasher('blake3'), 0x71, good), good).type, 'dir')
    for (const [why, value] of bad) {
      const bytes = dagCbor.encode(value)
      const cid = cidOf(await getHasher('blake3'), 0x71, bytes)
      assert.throws(() => decodeNode(cid, bytes), { code: 'ERR_INVALID_NODE' }, why)
    }
    // non-canonical CBOR: a map with unsorted keys, hand-encoded
    const cid = cidOf(await getHasher('blake3'), 0x71, Uint8Array.of(0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02))
    assert.throws(() => decodeNode(cid, Uint8Array.of(0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02)), { code: 'ERR_INVALID_NODE' })
  })
})

describe('directory export safety', () => {
  it('refuses hostile names and writes nothing outside the target', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const leaf = (await importBytes(store, new TextEncoder().encode('pwned'))).cid
    for (const name of ['..', '../escape', '/abs', 'a/b', '', 'x\0y']) {
      const root = await putNode(store, { type: 'dir', size: 5, entries: [[name, 0, leaf, 5, 0o644]] })
      const target = join(dir, 'out-' + Buffer.from(name).toString('hex'))
      await assert.rejects(exportTo(store, root, target), { code: 'ERR_INVALID_NODE' }, JSON.stringify(name))
    }
    assert.equal(existsSync(join(dir, 'escape')), false)
  })

  it('never writes through a symlink planted in the target', async t => {
    const dir = tempDir(t)
    const outside = join(dir, 'outside')
    mkdirSync(outside)
    writeFileSync(join(outside, 'victim'), 'original')
    const src = join(dir, 'src')
    mkdirSync(join(src, 'evil'), { recursive: true })
    writeFileSync(join(src, 'evil', 'victim'), 'overwritten!')
    writeFileSync(join(src, 'file.txt'), 'new content')
    const store = tempStore(t)
    const { cid } = await importPath(store, src)

    // a directory symlink planted where the DAG has a directory
    const target = join(dir, 'target')
    mkdirSync(target)
    symlinkSync(outside, join(target, 'evil'))
    await assert.rejects(exportTo(store, cid, target), { code: 'ERR_EXPORT_CONFLICT' })
    assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'original')

    // a file symlink planted where the DAG has a file: refused, and with overwrite the link itself is replaced
    const target2 = join(dir, 'target2')
    mkdirSync(target2)
    symlinkSync(join(outside, 'victim'), join(target2, 'file.txt'))
    await assert.rejects(exportTo(store, cid, target2), { code: 'ERR_EXPORT_CONFLICT' })
    assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'original')
    const target3 = join(dir, 'target3')
    mkdirSync(target3)
    symlinkSync(outside, join(target3, 'evil'))
    symlinkSync(join(outside, 'victim'), join(target3, 'file.txt'))
    // even with overwrite, a directory symlink is never written through or replaced
    await assert.rejects(exportTo(store, cid, target3, { overwrite: true }), { code: 'ERR_EXPORT_CONFLICT' })
    const target4 = join(dir, 'target4')
    mkdirSync(target4)
    symlinkSync(join(outside, 'victim'), join(target4, 'file.txt'))
    await exportTo(store, cid, target4, { overwrite: true })
    assert.equal(readFileSync(join(target4, 'file.txt'), 'utf8'), 'new content')
    assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'original')
    assert.deepEqual(readdirSync(outside), ['victim'])
  })

  it('exports a DAG symlink as a symlink and never follows it for later entries', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const leaf = (await importBytes(store, new TextEncoder().encode('data'))).cid
    const sub = await putNode(store, { type: 'dir', size: 4, entries: [['f', 0, leaf, 4, 0o644]] })
    // a symlink "a" to the outside, then a directory "a" too: names are unique, so this must be refused
    const entries = [
      ['a', 2, join(dir, 'outside'), 0, 0o777],
      ['a', 1, sub, 4, 0o755]
    ]
    const root = await putNode(store, { type: 'dir', size: 4, entries })
    await assert.rejects(exportTo(store, root, join(dir, 'out')), { code: 'ERR_INVALID_NODE' })
    const ok = await putNode(store, dagCbor.decode(encodeDirNode([{ name: 'link', kind: 'symlink', target: '../../etc', size: 0, mode: 0o777 }])))
    await exportTo(store, ok, join(dir, 'out2'))
    assert.deepEqual(readdirSync(join(dir, 'out2')), ['link'])
    assert.equal(existsSync(join(dir, 'outside')), false)
  })
})
