import assert from 'node:assert/strict'
import { get } from 'node:http'
import { describe, it, type TestContext } from 'node:test'
import { CarBlockIterator } from '@ipld/car'
import type { CID } from 'multiformats/cid'
import { walkDag } from '../../src/dag/car.js'
import { importBytes } from '../../src/dag/importer.js'
import { decodeNode } from '../../src/dag/nodes.js'
import { verifyBlock } from '../../src/dag/verify.js'
import type { Blockstore } from '../../src/store/interface.js'
import { startGateway, type Gateway } from '../../src/sync/gateway.js'
import { pseudoRandom, tempStore } from '../helpers/temp.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }
const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'

/** A multi-block file in a store of its own. */
async function fileDag (t: TestContext, size: number, seed: number, pin = true): Promise<{ store: Blockstore, data: Uint8Array, cid: CID, blocks: number }> {
  const store = tempStore(t)
  const data = pseudoRandom(size, seed)
  const r = await importBytes(store, data, { chunker: SMALL_CHUNKS, fileFanout: 1024, pin })
  return { store, data, cid: r.cid, blocks: r.blocks }
}

async function gatewayOver (t: TestContext, store: Blockstore): Promise<Gateway> {
  const gateway = await startGateway({ store })
  t.after(async () => await gateway.close())
  return gateway
}

/** The first links of a file root (its raw leaves, with a fanout of 1024). */
function leaves (store: Blockstore, root: CID): CID[] {
  const node = decodeNode(root, store.getSync(root))
  assert.ok(node.type === 'file')
  return node.links.map(l => l.cid)
}

async function corrupt (store: Blockstore, cid: CID): Promise<void> {
  const bytes = Uint8Array.from(store.getSync(cid))
  bytes[0] = bytes[0]! ^ 0xff
  await store.delete(cid)
  await store.put(cid, bytes)
}

/** Status of a GET sent without any Accept header (fetch always sends one). */
async function statusWithoutAccept (url: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    get(url, res => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject)
  })
}

describe('trustless gateway server', () => {
  it('serves blocks byte-identical with immutable headers, by ?format=raw and by Accept', async t => {
    const { store, cid } = await fileDag(t, 100_000, 71)
    const gw = await gatewayOver(t, store)
    const leaf = leaves(store, cid)[5]!
    for (const c of [cid, leaf]) {
      const byFormat = await fetch(`${gw.url}/ipfs/${c}?format=raw`)
      assert.equal(byFormat.status, 200)
      assert.deepEqual(new Uint8Array(await byFormat.arrayBuffer()), store.getSync(c))
      assert.equal(byFormat.headers.get('content-type'), RAW)
      assert.equal(byFormat.headers.get('content-length'), String(store.getSync(c).length))
      assert.equal(byFormat.headers.get('cache-control'), 'public, max-age=29030400, immutable')
      assert.equal(byFormat.headers.get('etag'), `"${c}.raw"`)
      assert.equal(byFormat.headers.get('x-content-type-options'), 'nosniff')
      assert.equal(byFormat.headers.get('content-disposition'), `attachment; filename="${c}.bin"`)
      assert.equal(byFormat.headers.get('content-location'), null, 'the URL already names the format')

      const byAccept = await fetch(`${gw.url}/ipfs/${c}`, { headers: { accept: RAW } })
      assert.equal(byAccept.status, 200)
      assert.deepEqual(new Uint8Array(await byAccept.arrayBuffer()), store.getSync(c))
      assert.equal(byAccept.headers.get('content-location'), `/ipfs/${c}?format=raw`)
    }
    // ?format= wins over Accept
    const both = await fetch(`${gw.url}/ipfs/${leaf}?format=raw`, { headers: { accept: CAR } })
    assert.equal(both.headers.get('content-type'), RAW)
    assert.deepEqual(new Uint8Array(await both.arrayBuffer()), store.getSync(leaf))
    // in Accept the highest q wins, and CAR variants it cannot produce are passed over
    const weighed = await fetch(`${gw.url}/ipfs/${leaf}`, { headers: { accept: `${CAR}; dups=y, ${RAW};q=0.5` } })
    assert.equal(weighed.headers.get('content-type'), RAW)
    await weighed.arrayBuffer()
  })

  it('answers HEAD with the headers of GET and no body', async t => {
    const { store, cid } = await fileDag(t, 50_000, 72)
    const gw = await gatewayOver(t, store)
    const raw = await fetch(`${gw.url}/ipfs/${cid}?format=raw`, { method: 'HEAD' })
    assert.equal(raw.status, 200)
    assert.equal(raw.headers.get('content-length'), String(store.getSync(cid).length))
    assert.equal(raw.headers.get('etag'), `"${cid}.raw"`)
    assert.equal((await raw.arrayBuffer()).byteLength, 0)
    const car = await fetch(`${gw.url}/ipfs/${cid}?format=car`, { method: 'HEAD' })
    assert.equal(car.status, 200)
    assert.match(car.headers.get('content-type') ?? '', /^application\/vnd\.ipld\.car; version=1/)
    assert.equal((await car.arrayBuffer()).byteLength, 0)
    const other = await fileDag(t, 1000, 73)
    assert.equal((await fetch(`${gw.url}/ipfs/${other.cid}?format=raw`, { method: 'HEAD' })).status, 404)
  })

  it('streams a CAR of the whole DAG, depth-first, each block once, root first and every block valid', async t => {
    const { store, cid, blocks } = await fileDag(t, 300_000, 74)
    const gw = await gatewayOver(t, store)
    const res = await fetch(`${gw.url}/ipfs/${cid}?format=car`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), `${CAR}; version=1; order=dfs; dups=n`)
    assert.equal(res.headers.get('content-length'), null, 'streamed, not built in memory first')
    assert.equal(res.headers.get('etag'), `"${cid}.car.all"`)
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${cid}.car"`)
    const carBytes = new Uint8Array(await res.arrayBuffer())
    const iterator = await CarBlockIterator.fromBytes(carBytes)
    assert.deepEqual((await iterator.getRoots()).map(String), [cid.toString()])
    const order: string[] = []
    for await (const block of iterator) {
      await verifyBlock(block.cid, block.bytes)
      order.push(block.cid.toString())
    }
    const expected: string[] = []
    for await (const b of walkDag(store, cid)) expected.push(b.cid.toString())
    assert.equal(order.length, blocks)
    assert.deepEqual(order, expected, 'depth-first order')
    assert.equal(new Set(order).size, order.length, 'no duplicates')
    // the same CAR when asked for by Accept
    const byAccept = await fetch(`${gw.url}/ipfs/${cid}`, { headers: { accept: `${CAR}; version=1; order=dfs` } })
    assert.deepEqual(new Uint8Array(await byAccept.arrayBuffer()), carBytes)
  })

  it('sends only the root block with dag-scope=block', async t => {
    const { store, cid } = await fileDag(t, 100_000, 75)
    const gw = await gatewayOver(t, store)
    const res = await fetch(`${gw.url}/ipfs/${cid}?format=car&dag-scope=block`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('etag'), `"${cid}.car.block"`)
    assert.ok(res.body !== null)
    const iterator = await CarBlockIterator.fromIterable(res.body)
    const got = []
    for await (const block of iterator) got.push(block)
    assert.equal(got.length, 1)
    assert.equal(got[0]!.cid.toString(), cid.toString())
    assert.deepEqual(got[0]!.bytes, store.getSync(cid))
  })

  it('refuses what it does not serve, with the status the spec names', async t => {
    const { store, cid } = await fileDag(t, 20_000, 76)
    const gw = await gatewayOver(t, store)
    const unknown = (await fileDag(t, 5000, 77)).cid
    const status = async (path: string, init: RequestInit = {}): Promise<number> => {
      const res = await fetch(`${gw.url}${path}`, init)
      await res.arrayBuffer()
      return res.status
    }
    assert.equal(await status('/ipfs/not-a-cid?format=raw'), 400)
    assert.equal(await status(`/ipfs/${unknown}?format=raw`), 404)
    assert.equal(await status(`/ipfs/${unknown}?format=car`), 404)
    assert.equal(await status('/foo'), 404)
    assert.equal(await status('/ipfs/'), 404)
    const post = await fetch(`${gw.url}/ipfs/${cid}?format=raw`, { method: 'POST' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.get('allow'), 'GET, HEAD')
    await post.arrayBuffer()
    assert.equal(await statusWithoutAccept(`${gw.url}/ipfs/${cid}`), 400, 'no Accept and no format: a strict trustless gateway says 400')
    assert.equal(await status(`/ipfs/${cid}`, { headers: { accept: 'text/html' } }), 406)
    assert.equal(await status(`/ipfs/${cid}`, { headers: { accept: '*/*' } }), 406)
    assert.equal(await status(`/ipfs/${cid}`, { headers: { accept: `${CAR}; dups=y` } }), 406)
    assert.equal(await status(`/ipfs/${cid}?format=car&car-version=2`), 406)
    assert.equal(await status(`/ipfs/${cid}?format=tar`), 406)
    assert.equal(await status(`/ipfs/${cid}?format=car&dag-scope=entity`), 400)
    assert.equal(await status(`/ipfs/${cid}?format=car&entity-bytes=0:99`), 400)
    assert.equal(await status(`/ipfs/${cid}/some/path?format=car`), 400)
    assert.equal(gw.requests, 15, 'every request is counted, whatever the answer')
  })

  it('answers the probe CID and revalidates with If-None-Match', async t => {
    const { store, cid } = await fileDag(t, 20_000, 78)
    const gw = await gatewayOver(t, store)
    const raw = await fetch(`${gw.url}/ipfs/bafkqaaa?format=raw`)
    assert.equal(raw.status, 200)
    assert.equal((await raw.arrayBuffer()).byteLength, 0)
    const car = await fetch(`${gw.url}/ipfs/bafkqaaa?format=car`)
    assert.equal(car.status, 200)
    const iterator = await CarBlockIterator.fromBytes(new Uint8Array(await car.arrayBuffer()))
    assert.deepEqual((await iterator.getRoots()).map(String), ['bafkqaaa'])
    const again = await fetch(`${gw.url}/ipfs/${cid}?format=raw`, { headers: { 'if-none-match': `"${cid}.raw"` } })
    assert.equal(again.status, 304)
    assert.equal((await again.arrayBuffer()).byteLength, 0)
  })

  it('never serves a corrupted block: 500 for the block, a cut CAR when it is further down', async t => {
    const { store, cid } = await fileDag(t, 100_000, 79, false)
    const gw = await gatewayOver(t, store)
    const leaf = leaves(store, cid)[3]!
    await corrupt(store, leaf)
    const raw = await fetch(`${gw.url}/ipfs/${leaf}?format=raw`)
    assert.equal(raw.status, 500)
    assert.match(raw.headers.get('content-type') ?? '', /^text\/plain/)
    assert.match(await raw.text(), /does not match/)
    const car = await fetch(`${gw.url}/ipfs/${cid}?format=car`)
    assert.equal(car.status, 200, 'the root was good, so the stream had started')
    await assert.rejects(car.arrayBuffer(), 'the body is cut, never ended cleanly')
    await corrupt(store, cid)
    const badRoot = await fetch(`${gw.url}/ipfs/${cid}?format=car`)
    assert.equal(badRoot.status, 500)
    await badRoot.arrayBuffer()
  })

  it('cuts a CAR short when a block is missing, and never ends it cleanly', async t => {
    const { store, cid } = await fileDag(t, 100_000, 80, false)
    const gw = await gatewayOver(t, store)
    const gone = leaves(store, cid).at(-2)!
    await store.delete(gone)
    const res = await fetch(`${gw.url}/ipfs/${cid}?format=car`)
    assert.equal(res.status, 200)
    assert.ok(res.body !== null)
    const iterator = await CarBlockIterator.fromIterable(res.body)
    const seen: string[] = []
    await assert.rejects((async () => { for await (const b of iterator) seen.push(b.cid.toString()) })())
    assert.ok(seen.length > 1 && !seen.includes(gone.toString()), `blocks before the gap arrived (${seen.length}), the gap did not`)
  })
})
