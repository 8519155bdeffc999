import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CarWriter } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import { importCar } from '../../src/dag/car.js'
import { cidOf } from '../../src/dag/cid.js'
import { exportTo } from '../../src/dag/exporter.js'
import { getHasher } from '../../src/dag/hashing.js'
import { importBytes, importPath } from '../../src/dag/importer.js'
import { MAX_BUNDLE_BYTES } from '../../src/policy/trust/constants.js'
import { readBundle } from '../../src/sync/releases/releases.js'
import { verifyStore } from '../../src/dag/verify.js'
import { tempDir, tempStore } from '../helpers/temp.js'

/** A CAR file of hand-made blocks, as a hostile peer or download could hand over. */
async function writeCar (path: string, roots: CID[], blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<void> {
  const { writer, out } = CarWriter.create(roots)
  const parts: Uint8Array[] = []
  const drained = (async () => { for await (const p of out) parts.push(p) })()
  for (const b of blocks) await writer.put(b)
  await writer.close()
  await drained
  writeFileSync(path, Buffer.concat(parts))
}

async function node (value: unknown): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = dagCbor.encode(value)
  return { cid: cidOf(await getHasher('blake3'), 0x71, bytes), bytes }
}

describe('untrusted DAGs carry no privileges', () => {
  it('masks setuid, setgid and sticky bits on export', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const leaf = (await importBytes(store, new TextEncoder().encode('#!/bin/sh\n'))).cid
    const sub = await node({ type: 'dir', size: 10, entries: [['tool', 0, leaf, 10, 0o6755]] })
    const root = await node({ type: 'dir', size: 10, entries: [['bin', 1, sub.cid, 10, 0o1777]] })
    await store.put(sub.cid, sub.bytes)
    await store.put(root.cid, root.bytes)
    await exportTo(store, root.cid, join(dir, 'out'))
    assert.equal(statSync(join(dir, 'out', 'bin', 'tool')).mode & 0o7777, 0o755)
    assert.equal(statSync(join(dir, 'out', 'bin')).mode & 0o7777, 0o777)
  })

  it('leaves no partial tree behind when an export stops on a conflict', async t => {
    const dir = tempDir(t)
    const src = join(dir, 'src')
    mkdirSync(join(src, 'a', 'deep'), { recursive: true })
    writeFileSync(join(src, 'a', 'deep', 'one'), '1')
    writeFileSync(join(src, 'a', 'two'), '2')
    writeFileSync(join(src, 'z'), 'last')
    const store = tempStore(t)
    const { cid } = await importPath(store, src)
    const target = join(dir, 'target')
    mkdirSync(target)
    writeFileSync(join(target, 'z'), 'the user\'s own file') // entries go in name order: `a` is written, then `z` conflicts
    await assert.rejects(exportTo(store, cid, target), { code: 'ERR_EXPORT_CONFLICT' })
    assert.deepEqual(readdirSync(target), ['z'], 'what the export made is gone; what was there stays')
    // a target that did not exist is not left behind either
    const fresh = join(dir, 'fresh')
    const leaf = (await importBytes(store, new TextEncoder().encode('x'))).cid
    const bad = await node({
      type: 'dir',
      size: 2,
      entries: [['a', 0, leaf, 1, 0o644], ['b', 0, (await node({ type: 'file', size: 1, links: [[leaf, 1]] })).cid, 1, 0o644]]
    })
    await store.put(bad.cid, bad.bytes)
    await assert.rejects(exportTo(store, bad.cid, fresh), { code: 'ERR_BLOCK_NOT_FOUND' })
    assert.equal(existsSync(fresh), false)
  })

  it('refuses to import nodes with unsafe entry names, storing nothing of such a CAR, and verify names one in the store', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const leafBytes = new TextEncoder().encode('pwned')
    const leaf = { cid: cidOf(await getHasher('blake3'), 0x55, leafBytes), bytes: leafBytes }
    for (const name of ['../x', '/etc/x', 'a\0b', '..']) {
      const root = await node({ type: 'dir', size: 5, entries: [[name, 0, leaf.cid, 5, 0o644]] })
      const car = join(dir, `bad-${Buffer.from(name).toString('hex')}.car`)
      await writeCar(car, [root.cid], [root, leaf])
      await assert.rejects(importCar(store, car), { code: 'ERR_INVALID_NODE' }, JSON.stringify(name))
      assert.equal(store.stat().blocks, 0, 'nothing of it is stored')
    }
    // a bad node that reached the store some other way (an older version's import): verify names it
    const root = await node({ type: 'dir', size: 5, entries: [['../x', 0, leaf.cid, 5, 0o644]] })
    await store.put(root.cid, root.bytes)
    await store.put(leaf.cid, leaf.bytes)
    const report = await verifyStore(store)
    assert.equal(report.ok, false)
    assert.deepEqual(report.invalid.map(i => i.cid.toString()), [root.cid.toString()])
    assert.match(report.invalid[0]!.reason, /\.\.\/x/)
  })
})

describe('size limits hold while reading', () => {
  it('refuses a CAR section declaring 2^40 bytes before reading it', async t => {
    const dir = tempDir(t)
    const store = tempStore(t)
    const header = dagCbor.encode({ version: 1, roots: [] })
    const head = Buffer.concat([varint.encodeTo(header.length, new Uint8Array(varint.encodingLength(header.length))), header])
    const huge = 2 ** 40
    const prefix = varint.encodeTo(huge, new Uint8Array(varint.encodingLength(huge)))
    const file = join(dir, 'huge.car')
    writeFileSync(file, Buffer.concat([head, prefix]))
    truncateSync(file, head.length + prefix.length + 64 * 1024 * 1024) // 64 MiB of "section" (a sparse file)
    await assert.rejects(importCar(store, file), { code: 'ERR_INVALID_CAR', message: /section of 1099511627776 bytes exceeds the limit/ })
    // a header declaring too much is refused the same way
    const big = varint.encodeTo(2 ** 30, new Uint8Array(varint.encodingLength(2 ** 30)))
    writeFileSync(join(dir, 'header.car'), big)
    await assert.rejects(importCar(store, join(dir, 'header.car')), { code: 'ERR_INVALID_CAR', message: /header of 1073741824 bytes exceeds the limit/ })
  })

  it('refuses a release bundle from a FIFO once it passes the limit, without reading the rest', async t => {
    const dir = tempDir(t)
    const fifo = join(dir, 'bundle.fifo')
    execFileSync('mkfifo', [fifo])
    const writer = createWriteStream(fifo)
    let written = 0
    let stopped = false
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    const pump = new Promise<void>(resolve => {
      writer.on('error', () => { stopped = true; resolve() }) // EPIPE: the reader closed its end
      const more = (): void => {
        while (!stopped && written < 300 * 1024 * 1024) {
          written += chunk.length
          if (!writer.write(chunk)) { writer.once('drain', more); return }
        }
        writer.end(resolve)
      }
      more()
    })
    await assert.rejects(readBundle(fifo), { code: 'ERR_TOO_LARGE' })
    await pump
    assert.ok(written < MAX_BUNDLE_BYTES + 8 * 1024 * 1024, `wrote ${written} bytes before the reader stopped`)
  })
})
