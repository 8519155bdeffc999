import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { CID } from 'multiformats/cid'
import { cidKey, cidOf } from '../../../src/dag/cid.js'
import { CODEC_DAG_CBOR, CODEC_RAW } from '../../../src/dag/constants.js'
import { cat, exportTo } from '../../../src/dag/exporter.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { importBytes, importPath } from '../../../src/dag/importer.js'
import { chunkLocations, locationTotals, type ChunkLocation } from '../../../src/dag/locations.js'
import { decodeNode } from '../../../src/dag/nodes.js'
import { verifyStore } from '../../../src/dag/verify.js'
import { fetchDag } from '../../../src/sync/fetch/fetcher.js'
import { rangeMirrorSource } from '../../../src/sync/fetch/range-mirror.js'
import type { Blockstore } from '../../../src/store/interface.js'
import { serveDir, type ServerFault } from '../../helpers/static-server.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }
const TIMEOUT = { timeout: 120_000 }

/** A release tree: a nested directory, a one-chunk file, an empty file, a name to URL-encode, a duplicate. */
const RELEASE: Record<string, Uint8Array> = {
  'big.bin': pseudoRandom(400_000, 61),
  'small.txt': Buffer.from('a file of one chunk\n'),
  empty: new Uint8Array(0),
  'docs/read me ü.md': pseudoRandom(30_000, 62),
  'docs/deep/nested.bin': pseudoRandom(200_000, 63),
  'lib/a.js': pseudoRandom(120_000, 64),
  'lib/copy-of-a.js': pseudoRandom(120_000, 64)
}

function writeTree (dir: string, files: Record<string, Uint8Array>): string {
  for (const [name, bytes] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), bytes)
  }
  symlinkSync('big.bin', join(dir, 'link'))
  return dir
}

/** Copy only the interior (DAG-CBOR) blocks: what a client holds from the release manifest. */
async function copyInterior (from: Blockstore, to: Blockstore): Promise<number> {
  const interior = [...from.entries()].filter(b => b.cid.code === CODEC_DAG_CBOR).map(b => ({ cid: b.cid, bytes: Uint8Array.from(b.bytes) }))
  await to.putMany(interior)
  return interior.length
}

const cidOfKey = (key: string): CID => CID.decode(Uint8Array.from(Buffer.from(key, 'latin1')))

/** A release served from `dir`, imported into A; B holds only its interior nodes and the chunk locations. */
async function release (t: TestContext, files: Record<string, Uint8Array> = RELEASE): Promise<{
  dir: string,
  a: Blockstore,
  b: Blockstore,
  root: CID,
  locations: Map<string,
  ChunkLocation>,
  interior: number
}> {
  const dir = writeTree(join(tempDir(t), 'release'), files)
  const a = tempStore(t)
  const { cid: root } = await importPath(a, dir, { chunker: SMALL_CHUNKS })
  const b = tempStore(t)
  const interior = await copyInterior(a, b)
  return { dir, a, b, root, locations: await chunkLocations(b, root), interior }
}

/** Export `root` from `store` and compare every file byte for byte. */
async function assertExports (t: TestContext, store: Blockstore, root: CID, files: Record<string, Uint8Array>): Promise<void> {
  const out = join(tempDir(t), 'out')
  await exportTo(store, root, out)
  for (const [name, bytes] of Object.entries(files)) assert.deepEqual(readFileSync(join(out, name)), Buffer.from(bytes), name)
  assert.equal(readlinkSync(join(out, 'link')), 'big.bin')
}

/** Every location's slice of the original file hashes to its CID. */
async function assertSlicesMatch (locations: Map<string, ChunkLocation>, read: (path: string) => Uint8Array): Promise<void> {
  const hasher = await getHasher('blake3')
  for (const [key, loc] of locations) {
    const bytes = read(loc.path).subarray(loc.offset, loc.offset + loc.length)
    assert.equal(bytes.length, loc.length, `${loc.path}@${loc.offset} lies inside the file`)
    assert.equal(cidKey(cidOf(hasher, CODEC_RAW, bytes)), key, `${loc.path}@${loc.offset}+${loc.length}`)
  }
}

describe('chunk locations', () => {
  it('locates every chunk of a file, through nested file nodes, by its byte offset', async t => {
    const store = tempStore(t)
    const data = pseudoRandom(300_000, 60)
    const { cid } = await importBytes(store, data, { chunker: SMALL_CHUNKS, fileFanout: 4 })
    const root = decodeNode(cid, store.getSync(cid))
    assert.ok(root.type === 'file' && root.links.some(l => l.cid.code === CODEC_DAG_CBOR), 'the file has nested file nodes')
    const locations = await chunkLocations(store, cid, { name: 'foo-1.2.tgz' })
    await assertSlicesMatch(locations, () => data)
    const leaves = [...store.entries()].filter(b => b.cid.code === CODEC_RAW).length
    assert.deepEqual(locationTotals(locations), { files: 1, chunks: leaves, bytes: data.length })
    assert.ok([...locations.values()].every(l => l.path === 'foo-1.2.tgz'))
    // a one-chunk file is its own raw leaf: one chunk at offset 0
    const small = await importBytes(store, pseudoRandom(100, 7))
    assert.equal(small.cid.code, CODEC_RAW)
    assert.deepEqual([...(await chunkLocations(store, small.cid)).values()], [{ path: '', offset: 0, length: 100 }])
  })

  it('locates the chunks of a directory tree: nested and split directories, one-chunk and empty files, no symlinks', async t => {
    const dir = writeTree(join(tempDir(t), 'release'), RELEASE)
    const store = tempStore(t)
    const { cid } = await importPath(store, dir, { chunker: SMALL_CHUNKS, dirFanout: 2 })
    const root = decodeNode(cid, store.getSync(cid))
    assert.ok(root.type === 'dir' && root.parts !== undefined, 'the root directory is split into parts')
    const locations = await chunkLocations(store, cid)
    await assertSlicesMatch(locations, path => readFileSync(join(dir, path)))
    const paths = new Set([...locations.values()].map(l => l.path))
    for (const name of ['big.bin', 'small.txt', 'empty', 'docs/read me ü.md', 'docs/deep/nested.bin', 'lib/a.js']) assert.ok(paths.has(name), name)
    assert.ok(!paths.has('link'), 'symlinks have no chunks')
    assert.ok(!paths.has('lib/copy-of-a.js'), 'a duplicate file\'s chunks keep their first location')
    assert.deepEqual([...locations.values()].find(l => l.path === 'small.txt'), { path: 'small.txt', offset: 0, length: RELEASE['small.txt']!.length })
    const leaves = [...store.entries()].filter(b => b.cid.code === CODEC_RAW).length
    const distinct = Object.entries(RELEASE).filter(([name]) => name !== 'lib/copy-of-a.js').reduce((n, [, bytes]) => n + bytes.length, 0)
    assert.deepEqual(locationTotals(locations), { files: 6, chunks: leaves, bytes: distinct })
  })

  it('refuses a DAG whose interior nodes are not all held, naming the missing one', async t => {
    const dir = writeTree(join(tempDir(t), 'release'), RELEASE)
    const a = tempStore(t)
    const { cid } = await importPath(a, dir, { chunker: SMALL_CHUNKS })
    const b = tempStore(t)
    await b.put(cid, Uint8Array.from(a.getSync(cid))) // the root directory, nothing below it
    await assert.rejects(chunkLocations(b, cid), { code: 'ERR_BLOCK_NOT_FOUND' })
  })
})

describe('fetching a release from a plain web server by byte ranges', () => {
  it('fetches a whole release in far fewer HTTP requests than chunks, byte-identical', TIMEOUT, async t => {
    const { dir, b, root, locations } = await release(t)
    const server = await serveDir(t, dir)
    const mirror = rangeMirrorSource(server.url, locations, { id: 'web' })
    const r = await fetchDag(b, root, [mirror])
    await assertExports(t, b, root, RELEASE)
    const totals = locationTotals(locations)
    assert.equal(r.fetchedBlocks, totals.chunks)
    const { requests, bytes } = mirror.stats
    t.diagnostic(`${totals.chunks} chunks in ${totals.files} files, ${totals.bytes} bytes: ${requests} HTTP requests, ${bytes} bytes received, ${(requests / (bytes / 2 ** 20)).toFixed(1)} requests/MiB`)
    assert.ok(requests <= totals.chunks / 8, `${requests} requests for ${totals.chunks} chunks`)
    assert.equal(server.requests.length, requests)
    assert.ok(server.requests.every(q => q.status === 206 && q.range !== undefined))
    assert.equal(bytes, totals.bytes, 'every chunk wanted, so no gap bytes: exactly the release was received')
    assert.equal(r.wire.web, bytes, 'the fetcher counts what the mirror received')
    assert.equal(mirror.stats.score, 1)
  })

  it('fetches a single-file release from the file\'s own URL', TIMEOUT, async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(300_000, 80)
    writeFileSync(join(dir, 'foo-1.2.tgz'), data)
    const a = tempStore(t)
    const { cid } = await importBytes(a, data, { chunker: SMALL_CHUNKS })
    const b = tempStore(t)
    await copyInterior(a, b)
    const server = await serveDir(t, dir)
    const mirror = rangeMirrorSource(`${server.url}/foo-1.2.tgz`, await chunkLocations(b, cid))
    await fetchDag(b, cid, [mirror])
    assert.deepEqual(await collect(cat(b, cid)), Buffer.from(data))
    assert.ok(server.requests.length > 0 && server.requests.every(q => q.path === 'foo-1.2.tgz' && q.status === 206))
  })

  it('on an update, asks only for the ranges holding missing chunks', TIMEOUT, async t => {
    const base = tempDir(t)
    const v1 = writeTree(join(base, 'v1'), RELEASE)
    const big = RELEASE['big.bin']!
    // two edits 30 KB apart in one file (a gap worth bridging), and a new file
    const edited = Buffer.concat([
      big.subarray(0, 200_000),
      pseudoRandom(3000, 70),
      big.subarray(200_000, 230_000),
      pseudoRandom(3000, 72),
      big.subarray(230_000)
    ])
    const files2 = { ...RELEASE, 'big.bin': edited, 'lib/new.js': pseudoRandom(50_000, 71) }
    const v2 = writeTree(join(base, 'v2'), files2)
    const a = tempStore(t)
    const { cid: root } = await importPath(a, v2, { chunker: SMALL_CHUNKS })
    const server = await serveDir(t, v2)
    const requests: number[] = []
    for (const maxGap of [undefined, 0]) {
      // the client holds v1 and receives v2's interior nodes with its manifest
      const b = tempStore(t)
      await importPath(b, v1, { chunker: SMALL_CHUNKS })
      await copyInterior(a, b)
      const locations = await chunkLocations(b, root)
      const missing: ChunkLocation[] = []
      for (const [key, loc] of locations) if (!await b.has(cidOfKey(key))) missing.push(loc)
      const missingBytes = missing.reduce((n, l) => n + l.length, 0)
      const before = server.requests.length
      const mirror = rangeMirrorSource(server.url, locations, { maxGap })
      const r = await fetchDag(b, root, [mirror])
      await assertExports(t, b, root, files2)
      assert.equal(r.fetchedBlocks, missing.length)
      const total = locationTotals(locations).bytes
      t.diagnostic(`maxGap ${maxGap ?? 'default'}: ${missing.length} of ${locations.size} chunks missing (${missingBytes} of ${total} bytes): ${mirror.stats.requests} requests, ${mirror.stats.bytes} bytes received`)
      assert.ok(mirror.stats.bytes >= missingBytes && mirror.stats.bytes < total / 4, `${mirror.stats.bytes} bytes received`)
      if (maxGap === 0) assert.equal(mirror.stats.bytes, missingBytes, 'with no gap allowed, exactly the missing chunks')
      else assert.ok(mirror.stats.bytes > missingBytes, 'the gap between the edits was downloaded to save a request')
      requests.push(mirror.stats.requests)
      // every range asked for holds a missing chunk
      for (const q of server.requests.slice(before)) {
        const [from, to] = /^bytes=(\d+)-(\d+)$/.exec(q.range ?? '')!.slice(1).map(Number) as [number, number]
        assert.ok(missing.some(l => l.path === q.path && l.offset <= to && l.offset + l.length > from), `${q.path} ${q.range} holds a missing chunk`)
      }
    }
    assert.ok(requests[0]! < requests[1]!, `bridging the gap saved a request: ${requests.join(' vs ')}`)
  })

  it('completes from a server that ignores Range, marks it, and reads no file past maxRange', TIMEOUT, async t => {
    const { dir, b, root, locations } = await release(t)
    const ignoring = await serveDir(t, dir, { fault: 'ignore-range' })
    const mirror = rangeMirrorSource(ignoring.url, locations, { id: 'ignoring' })
    await fetchDag(b, root, [mirror])
    await assertExports(t, b, root, RELEASE)
    assert.ok(ignoring.requests.every(q => q.status === 200))
    t.diagnostic(`ignoring Range: ${mirror.stats.requests} requests, ${mirror.stats.bytes} bytes received for ${locationTotals(locations).bytes}`)
    assert.equal(mirror.stats.ignoresRanges, true)
    assert.ok(mirror.stats.score <= 0.5, `score ${mirror.stats.score}`)

    // with a small maxRange, chunks beyond it are left to the other mirror rather than read from each file's start
    const { b: b2, locations: l2, dir: dir2, root: root2 } = await release(t)
    const ignoring2 = await serveDir(t, dir2, { fault: 'ignore-range' })
    const good = await serveDir(t, dir2)
    const maxRange = 64 * 1024
    const capped = rangeMirrorSource(ignoring2.url, l2, { id: 'capped', maxRange })
    const r = await fetchDag(b2, root2, [capped, rangeMirrorSource(good.url, l2, { id: 'good' })])
    await assertExports(t, b2, root2, RELEASE)
    assert.ok((r.sources.capped ?? 0) > 0 && (r.sources.good ?? 0) > 0, JSON.stringify(r.sources))
    // a read stops within one network read of maxRange
    assert.ok(capped.stats.bytes <= capped.stats.requests * (maxRange + 256 * 1024), `${capped.stats.bytes} bytes in ${capped.stats.requests} requests`)
    assert.ok(capped.stats.bytes < locationTotals(l2).bytes)
  })

  it('drops a mirror that sends wrong bytes, stores none of them, and completes from a good mirror', TIMEOUT, async t => {
    const { dir, b, root } = await release(t)
    const bad = await serveDir(t, dir, { fault: 'corrupt' })
    const good = await serveDir(t, dir)
    const locations = await chunkLocations(b, root)
    const liar = rangeMirrorSource(bad.url, locations, { id: 'liar' })
    const honest = rangeMirrorSource(good.url, locations, { id: 'honest' })
    const badBlocks: string[] = []
    await fetchDag(b, root, [liar, honest], { onProgress: e => { if (e.type === 'fetch:bad-block') badBlocks.push(e.source) } })
    assert.deepEqual(badBlocks, ['liar'], 'caught once, then dropped')
    assert.equal(liar.stats.misbehaved, 1)
    assert.ok(liar.stats.score <= 0.1, `score ${liar.stats.score}`)
    assert.ok(bad.requests.length > 0, 'the liar was asked')
    const report = await verifyStore(b)
    assert.ok(report.ok && report.corrupt.length === 0, JSON.stringify(report))
    await assertExports(t, b, root, RELEASE)
  })

  const faults: Array<[ServerFault, number | undefined]> = [['stall-headers', undefined], ['stall-body', 206], ['error-500', 500], ['wrong-range', 206]]
  for (const [fault, status] of faults) {
    it(`rejects a request to a server with fault ${fault} with ERR_MIRROR, and completes from a good mirror`, TIMEOUT, async t => {
      const { dir, b, root, locations } = await release(t)
      const faulty = await serveDir(t, dir, { fault })
      const good = await serveDir(t, dir)
      // a stall is detected by its timeout, kept short so the test is quick but long enough that a loaded machine
      // does not mistake slow headers for a stall; other faults are found by what the server sends
      const stallTimeoutMs = fault.startsWith('stall') ? 3000 : 60_000
      const failing = rangeMirrorSource(faulty.url, locations, { id: fault, stallTimeoutMs })
      const [key] = [...locations].find(([, l]) => l.path === 'big.bin' && l.offset > 0)!
      await assert.rejects(failing.request([cidOfKey(key)], {}), (err: { code?: string, url?: string, status?: number }) =>
        err.code === 'ERR_MIRROR' && err.url === `${faulty.url}/big.bin` && err.status === status)
      assert.equal(failing.stats.failures, 1)
      const r = await fetchDag(b, root, [failing, rangeMirrorSource(good.url, locations, { id: 'good' })])
      await assertExports(t, b, root, RELEASE)
      assert.equal(r.sources[fault], undefined, 'nothing came from the faulty mirror')
      assert.ok(faulty.requests.length > 1, 'the faulty mirror was asked during the fetch too')
      assert.ok(failing.stats.score < 1, `score ${failing.stats.score}`)
    })
  }

  it('stops reading a body that runs on past the range asked for', TIMEOUT, async t => {
    const { dir, b, root, locations } = await release(t)
    const server = await serveDir(t, dir, { fault: 'long-body' })
    const mirror = rangeMirrorSource(server.url, locations)
    await fetchDag(b, root, [mirror])
    await assertExports(t, b, root, RELEASE)
    const total = locationTotals(locations).bytes
    assert.ok(mirror.stats.bytes < total + mirror.stats.requests * 1024 * 1024, `${mirror.stats.bytes} bytes received for ${total}`)
    // every response was cut off by the client (the server would send 64 MiB of junk after each)
    await waitFor(() => server.clientClosed >= server.requests.length, { what: 'the client to cut off every response' })
    assert.equal(server.clientClosed, server.requests.length)
  })

  it('answers chunks of a file the server lacks, and chunks it cannot locate, as missing', TIMEOUT, async t => {
    const { dir, b, root, locations } = await release(t)
    rmSync(join(dir, 'docs/deep/nested.bin'))
    const server = await serveDir(t, dir)
    const mirror = rangeMirrorSource(server.url, locations)
    const [key] = [...locations].find(([, l]) => l.path === 'docs/deep/nested.bin')!
    const answer = await mirror.request([cidOfKey(key), root], {})
    assert.deepEqual(answer.blocks, [])
    assert.deepEqual(answer.missing.map(String).sort(), [cidOfKey(key), root].map(String).sort())
    assert.equal(server.requests.at(-1)?.status, 404)
    await assert.rejects(fetchDag(b, root, [mirror]), { code: 'ERR_FETCH_FAILED' })
  })

  it('cancels in-flight HTTP requests when the caller aborts', TIMEOUT, async t => {
    const { dir, locations } = await release(t)
    const server = await serveDir(t, dir, { fault: 'stall-headers' })
    const mirror = rangeMirrorSource(server.url, locations, { stallTimeoutMs: 60_000 })
    const controller = new AbortController()
    const keys = [...locations].filter(([, l]) => l.length > 0).map(([k]) => cidOfKey(k))
    const pending = mirror.request(keys, { signal: controller.signal })
    // aborted once requests are in flight (the server holds their headers back)
    await waitFor(() => server.requests.length > 0, { what: 'a request at the server' })
    controller.abort()
    await assert.rejects(pending, { code: 'ERR_ABORTED' })
    await waitFor(() => server.clientClosed >= server.requests.length, { what: 'the client to close every connection' })
    assert.equal(server.clientClosed, server.requests.length)
  })

  it('fails naming the mirrors tried when all fail, keeping the chunks fetched for a resume', TIMEOUT, async t => {
    const { dir, b, root, locations, interior } = await release(t)
    const one = await serveDir(t, dir, { failAfter: 6 })
    const two = await serveDir(t, dir, { failAfter: 6 })
    const mirrors = [rangeMirrorSource(one.url, locations, { id: 'mirror-one' }), rangeMirrorSource(two.url, locations, { id: 'mirror-two' })]
    await assert.rejects(fetchDag(b, root, mirrors, { batchSize: 16 }), (err: { code?: string, tried?: string[] }) =>
      err.code === 'ERR_FETCH_FAILED' && err.tried?.includes('mirror-one') === true && err.tried.includes('mirror-two'))
    const held = b.stat().blocks - interior
    assert.ok(held > 0 && held < locations.size, `${held} of ${locations.size} chunks kept`)
    assert.equal(b.isComplete(root), false)
    // resume: only what is still missing is fetched
    const good = await serveDir(t, dir)
    const r = await fetchDag(b, root, [rangeMirrorSource(good.url, locations)])
    assert.equal(r.fetchedBlocks, locations.size - held)
    await assertExports(t, b, root, RELEASE)
  })
})
