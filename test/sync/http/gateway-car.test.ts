import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { CarBlockIterator } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { entityRange, parseEntityBytes, scopedBlocks } from '../../../src/dag/car-scope.js'
import { CODEC_RAW } from '../../../src/dag/constants.js'
import { cat, resolvePath } from '../../../src/dag/exporter.js'
import { importPath } from '../../../src/dag/importer.js'
import { verifyBlock } from '../../../src/dag/verify.js'
import type { Blockstore } from '../../../src/store/interface.js'
import { fetchDag } from '../../../src/sync/fetch/fetcher.js'
import { gatewaySource } from '../../../src/sync/fetch/gateway-source.js'
import { startGateway, type Gateway } from '../../../src/sync/http/gateway.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'
import { storeFixture, unixfsFixture } from '../../helpers/unixfs.js'

const DATA = pseudoRandom(40_000, 21)

async function gatewayOver (t: TestContext, store: Blockstore): Promise<Gateway> {
  const gateway = await startGateway({ store })
  t.after(async () => await gateway.close())
  return gateway
}

/** A CAR response's blocks, each checked against its CID, and the response. */
async function carBlocks (url: string, init?: RequestInit): Promise<{ res: Response, blocks: Array<{ cid: CID, bytes: Uint8Array }> }> {
  const res = await fetch(url, init)
  assert.equal(res.status, 200, `${url}: ${res.status}`)
  const iterator = await CarBlockIterator.fromBytes(new Uint8Array(await res.arrayBuffer()))
  const blocks: Array<{ cid: CID, bytes: Uint8Array }> = []
  for await (const b of iterator) {
    await verifyBlock(b.cid, b.bytes, 'the response')
    blocks.push(b)
  }
  assert.equal(new Set(blocks.map(b => b.cid.toString())).size, blocks.length, 'no block twice')
  return { res, blocks }
}

/** A store holding only `blocks`: what a client could verify and read from the CAR alone. */
async function clientStore (t: TestContext, blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<Blockstore> {
  const store = tempStore(t)
  for (const b of blocks) await store.put(b.cid, b.bytes)
  return store
}

async function unixfsSite (t: TestContext): Promise<{ store: Blockstore, root: CID, total: number }> {
  const store = tempStore(t)
  const fixture = await unixfsFixture([
    { path: 'site/assets/big.bin', content: DATA },
    { path: 'site/assets/small.txt', content: new TextEncoder().encode('small\n') },
    { path: 'site/index.html', content: new TextEncoder().encode('<h1>hi</h1>\n') },
    ...Array.from({ length: 60 }, (_, i) => ({ path: `site/many/entry-${i}`, content: new TextEncoder().encode(`entry ${i}\n`) }))
  ], {
    rawLeaves: true,
    chunker: fixedSize({ chunkSize: 1000 }),
    layout: balanced({ maxChildrenPerNode: 8 }),
    shardSplitThresholdBytes: 500,
    shardFanoutBits: 4
  })
  return { store, root: await storeFixture(store, fixture), total: fixture.blocks.length }
}

describe('gateway CARs with paths, dag-scope and entity-bytes', () => {
  it('serves a UnixFS file by path: the path\'s blocks, then the file, readable from the CAR alone', async t => {
    const { store, root } = await unixfsSite(t)
    const gw = await gatewayOver(t, store)
    const { res, blocks } = await carBlocks(`${gw.url}/ipfs/${root}/assets/big.bin?format=car`)
    assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
    assert.equal(blocks[0]!.cid.toString(), root.toString(), 'the path starts at the root asked for')
    const client = await clientStore(t, blocks)
    const file = await resolvePath(client, root, 'assets/big.bin')
    assert.deepEqual(await collect(cat(client, file.cid)), Buffer.from(DATA))
    assert.equal(blocks.filter(b => b.cid.code === CODEC_RAW).length, 40, 'the file\'s 40 leaves, not the other files')

    // dag-scope=block: the path and the file's root, no leaf
    const block = await carBlocks(`${gw.url}/ipfs/${root}/assets/big.bin?format=car&dag-scope=block`)
    assert.equal(block.blocks.at(-1)!.cid.toString(), file.cid.toString())
    assert.equal(block.blocks.filter(b => b.cid.code === CODEC_RAW).length, 0)
    assert.notEqual(block.res.headers.get('etag'), res.headers.get('etag'), 'each scope its own ETag')
  })

  it('entity-bytes sends only the blocks of the range, and -N:* the end', async t => {
    const { store, root } = await unixfsSite(t)
    const gw = await gatewayOver(t, store)
    const part = await carBlocks(`${gw.url}/ipfs/${root}/assets/big.bin?format=car&entity-bytes=10500:12499`)
    const leaves = part.blocks.filter(b => b.cid.code === CODEC_RAW)
    assert.equal(leaves.length, 3, 'leaves 10, 11 and 12 of 1000 bytes')
    const client = await clientStore(t, part.blocks)
    const file = await resolvePath(client, root, 'assets/big.bin')
    assert.deepEqual(await collect(cat(client, file.cid, { offset: 10_500, length: 2000 })), Buffer.from(DATA.subarray(10_500, 12_500)))
    await assert.rejects(collect(cat(client, file.cid)), { code: 'ERR_BLOCK_NOT_FOUND' }, 'the rest of the file was not sent')

    const tail = await carBlocks(`${gw.url}/ipfs/${root}/assets/big.bin?format=car&entity-bytes=-100:*`)
    const tailStore = await clientStore(t, tail.blocks)
    assert.deepEqual(await collect(cat(tailStore, file.cid, { offset: 39_900 })), Buffer.from(DATA.subarray(39_900)))
    assert.equal(tail.blocks.filter(b => b.cid.code === CODEC_RAW).length, 1)
    // empty once -30000 is resolved: as dag-scope=block; starting past the end: 400
    const outside = await carBlocks(`${gw.url}/ipfs/${root}/assets/big.bin?format=car&entity-bytes=20000:-30000`)
    assert.equal(outside.blocks.at(-1)!.cid.toString(), file.cid.toString())
    assert.equal(outside.blocks.filter(b => b.cid.code === CODEC_RAW).length, 0)
    assert.notEqual(outside.res.headers.get('etag'), tail.res.headers.get('etag'))
    const past = await fetch(`${gw.url}/ipfs/${root}/assets/big.bin?format=car&entity-bytes=50000:*`)
    assert.equal(past.status, 400)
    assert.match(await past.text(), /past the end of the file \(40000 bytes\)/)

    assert.deepEqual(parseEntityBytes('0:*'), { from: 0, to: undefined })
    assert.deepEqual(entityRange({ from: 499, to: -1000 }, 10_000), { offset: 499, length: 8502 })
    assert.equal(entityRange({ from: 5, to: 2 }, 3), undefined)
    assert.throws(() => parseEntityBytes('9:3'), { code: 'ERR_INVALID_OPTION' })
    assert.throws(() => parseEntityBytes('a:b'), { code: 'ERR_INVALID_OPTION' })
  })

  it('dag-scope=entity on a directory sends its own nodes (a HAMT\'s shards), not its entries', async t => {
    const { store, root, total } = await unixfsSite(t)
    const gw = await gatewayOver(t, store)
    const many = await carBlocks(`${gw.url}/ipfs/${root}/many?format=car&dag-scope=entity`)
    assert.ok(many.blocks.length > 2, 'the root, and the HAMT\'s shards')
    assert.ok(many.blocks.every(b => b.cid.code === dagPb.code), 'no entry\'s file')
    const all = await carBlocks(`${gw.url}/ipfs/${root}?format=car`)
    assert.equal(all.blocks.length, total)
    const plain = await carBlocks(`${gw.url}/ipfs/${root}/assets?format=car&dag-scope=entity`)
    assert.equal(plain.blocks.length, 2, 'the root and the assets directory node')
  })

  it('answers paths in cmesh\'s own format too, and refuses what it cannot serve', async t => {
    const dir = tempDir(t)
    mkdirSync(join(dir, 'src', 'lib'), { recursive: true })
    writeFileSync(join(dir, 'src', 'lib', 'data.bin'), DATA)
    const store = tempStore(t)
    const { cid } = await importPath(store, join(dir, 'src'), { chunker: { minSize: 256, avgSize: 1024, maxSize: 4096 } })
    const gw = await gatewayOver(t, store)
    const { blocks } = await carBlocks(`${gw.url}/ipfs/${cid}/lib/data.bin`, { headers: { accept: 'application/vnd.ipld.car' } })
    const client = await clientStore(t, blocks)
    assert.deepEqual(await collect(cat(client, (await resolvePath(client, cid, 'lib/data.bin')).cid)), Buffer.from(DATA))
    const range = await carBlocks(`${gw.url}/ipfs/${cid}/lib/data.bin?format=car&entity-bytes=0:99`)
    assert.ok(range.blocks.length < blocks.length)

    const status = async (path: string): Promise<number> => {
      const res = await fetch(`${gw.url}${path}`)
      await res.arrayBuffer()
      return res.status
    }
    assert.equal(await status(`/ipfs/${cid}/lib/nope?format=car`), 404)
    assert.equal(await status(`/ipfs/${cid}/lib/data.bin?format=raw`), 400, 'a block is asked for by CID alone')
    assert.equal(await status(`/ipfs/${cid}/lib?format=car&entity-bytes=x:1`), 400)
    assert.equal(await status(`/ipfs/${cid}/%E0%A4%A?format=car`), 400)
    const head = await fetch(`${gw.url}/ipfs/${cid}/lib/data.bin?format=car`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal((await fetch(`${gw.url}/ipfs/${cid}/nope?format=car`, { method: 'HEAD' })).status, 404)
    const unknown = CID.createV1(CODEC_RAW, await sha256.digest(new TextEncoder().encode('held nowhere')))
    assert.equal(await status(`/ipfs/${unknown}?format=car`), 404)
    const cached = await fetch(`${gw.url}/ipfs/${unknown}?format=raw`, { headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(cached.status, 412, 'only-if-cached and the root is not held here')
    await cached.arrayBuffer()
    const held = await fetch(`${gw.url}/ipfs/${cid}?format=raw`, { headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(held.status, 200)
    await held.arrayBuffer()
  })

  it('dups=y sends a shared block every time it is reached, and stops a DAG that doubles at each level at the cap', async t => {
    const store = tempStore(t)
    const leaf = new TextEncoder().encode('the same chunk\n')
    let below: CID = CID.createV1(CODEC_RAW, await sha256.digest(leaf))
    await store.put(below, leaf)
    let size = leaf.length
    for (let level = 0; level < 4; level++) { // each node links the one below twice: 2^4 visits of the leaf
      const data = new UnixFS({ type: 'file', blockSizes: [BigInt(size), BigInt(size)] })
      const bytes = dagPb.encode(dagPb.prepare({ Data: data.marshal(), Links: [{ Hash: below, Tsize: size }, { Hash: below, Tsize: size }] }))
      below = CID.createV1(dagPb.code, await sha256.digest(bytes))
      await store.put(below, bytes)
      size *= 2
    }
    const gw = await gatewayOver(t, store)
    const res = await fetch(`${gw.url}/ipfs/${below}`, { headers: { accept: 'application/vnd.ipld.car; dups=y' } })
    assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=y')
    const sent: string[] = []
    for await (const b of await CarBlockIterator.fromBytes(new Uint8Array(await res.arrayBuffer()))) sent.push(b.cid.toString())
    assert.equal(sent.length, 1 + 2 + 4 + 8 + 16, 'every node and leaf as often as the walk reaches it')
    const once = await carBlocks(`${gw.url}/ipfs/${below}?format=car`)
    assert.equal(once.blocks.length, 5, 'dups=n: each block once')
    const capped = scopedBlocks(store, below, { dups: true, maxBlocks: 20 })
    await assert.rejects((async () => { for await (const _ of capped); })(), { code: 'ERR_DAG_TOO_LARGE' })
    await assert.rejects((async () => { for await (const _ of scopedBlocks(store, below, { dups: true, bytes: { from: 0 } })); })(), { code: 'ERR_INVALID_OPTION' })
  })

  it('fetches a whole UnixFS DAG block by block, HAMT included, and the copy reads the same', async t => {
    const { store, root, total } = await unixfsSite(t)
    const gw = await gatewayOver(t, store)
    const local = tempStore(t)
    const r = await fetchDag(local, root, [gatewaySource(gw.url)])
    assert.equal(r.fetchedBlocks, total, 'every DAG-PB link was followed')
    assert.deepEqual(local.missing(root), [])
    assert.deepEqual(await collect(cat(local, (await resolvePath(local, root, 'assets/big.bin')).cid)), Buffer.from(DATA))
    assert.equal((await collect(cat(local, (await resolvePath(local, root, 'many/entry-42')).cid))).toString(), 'entry 42\n')
  })
})
