import assert from 'node:assert/strict'
import { createServer, get, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import { CarBlockIterator } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { walkDag } from '../../../src/dag/car.js'
import { CODEC_RAW } from '../../../src/dag/constants.js'
import { cat } from '../../../src/dag/exporter.js'
import { importBytes } from '../../../src/dag/importer.js'
import { decodeNode } from '../../../src/dag/nodes.js'
import { verifyBlock } from '../../../src/dag/verify.js'
import type { Blockstore } from '../../../src/store/interface.js'
import { fetchDag, type BlockSource } from '../../../src/sync/fetch/fetcher.js'
import { startGateway, type Gateway } from '../../../src/sync/http/gateway.js'
import { gatewaySource } from '../../../src/sync/fetch/gateway-source.js'
import { collect, pseudoRandom, tempStore } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

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

/** A plain HTTP server playing a gateway that misbehaves; closed when the test ends. */
async function plainServer (t: TestContext, handler: RequestListener): Promise<string> {
  const server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
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
    const weighed = await fetch(`${gw.url}/ipfs/${leaf}`, { headers: { accept: `${CAR}; version=2, ${RAW};q=0.5` } })
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
    assert.equal(await status(`/ipfs/${cid}`, { headers: { accept: `${CAR}; order=random` } }), 406)
    assert.equal(await status(`/ipfs/${cid}?format=car&car-version=2`), 406)
    assert.equal(await status(`/ipfs/${cid}?format=tar`), 406)
    assert.equal(await status(`/ipfs/${cid}?format=car&dag-scope=files`), 400)
    assert.equal(await status(`/ipfs/${cid}?format=car&entity-bytes=99`), 400)
    assert.equal(await status(`/ipfs/${cid}/some/path?format=car`), 404, 'a file has no entries: the path is not in the DAG')
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

describe('trustless gateway as a block source', () => {
  it('fetches a multi-block file into an empty store byte-identical, counting the wire and the requests', async t => {
    const { store: remote, data, cid, blocks } = await fileDag(t, 300_000, 81)
    const gw = await gatewayOver(t, remote)
    const source = gatewaySource(gw.url + '/')
    assert.equal(source.kind, 'mirror')
    assert.equal(source.id, gw.url, 'the id is the base URL, trailing slash dropped')
    const local = tempStore(t)
    const r = await fetchDag(local, cid, [source])
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    assert.equal(r.fetchedBlocks, blocks)
    assert.ok(r.wireBytes > 0)
    assert.equal(r.wire[source.id], r.wireBytes)
    assert.equal(r.wireBytes, r.fetchedBytes, 'a raw block body is the block: nothing more crossed')
    assert.equal(source.requests, blocks, 'one request per block')
    assert.equal(gw.requests, source.requests)
    assert.ok(local.isPinned(cid))
  })

  it('reports blocks the gateway lacks as missing and answers only the CIDs asked for', async t => {
    const { store, cid } = await fileDag(t, 50_000, 82)
    const gw = await gatewayOver(t, store)
    const unknown = (await fileDag(t, 5000, 83)).cid
    const leaf = leaves(store, cid)[2]!
    const answer = await gatewaySource(gw.url, { concurrency: 2 }).request([leaf, unknown, leaf], {})
    assert.deepEqual(answer.blocks.map(b => b.cid.toString()), [leaf.toString()], 'asked twice, sent once')
    assert.deepEqual(answer.blocks[0]!.bytes, store.getSync(leaf))
    assert.deepEqual(answer.missing.map(String), [unknown.toString()])
    assert.equal(answer.wireBytes, store.getSync(leaf).length)
  })

  it('fails with ERR_MIRROR within the timeout when the gateway stalls, before or during the body', async t => {
    const { cid } = await fileDag(t, 5000, 84)
    const silent = await plainServer(t, () => {}) // never answers
    const halfway = await plainServer(t, (_req, res) => { res.writeHead(200, { 'content-length': '1000' }); res.write(new Uint8Array(10)) })
    for (const url of [silent, halfway]) {
      const started = performance.now()
      await assert.rejects(gatewaySource(url, { timeout: 300 }).request([cid], {}), (err: { code?: string, url?: string, message: string }) =>
        err.code === 'ERR_MIRROR' && err.url === `${url}/ipfs/${cid}?format=raw` && /300 ms/.test(err.message))
      const took = performance.now() - started
      assert.ok(took >= 250, `gave up after ${Math.round(took)} ms, before its timeout`) // timers never fire early
    }
  })

  it('fails with ERR_MIRROR naming the status on an HTTP error, and on a refused connection', async t => {
    const { store, cid } = await fileDag(t, 20_000, 85, false)
    await corrupt(store, cid)
    const gw = await gatewayOver(t, store)
    await assert.rejects(gatewaySource(gw.url).request([cid], {}), (err: { code?: string, status?: number }) => err.code === 'ERR_MIRROR' && err.status === 500)
    const closed = await startGateway({ store })
    await closed.close()
    await assert.rejects(gatewaySource(closed.url).request([cid], {}), (err: { code?: string, status?: number }) => err.code === 'ERR_MIRROR' && err.status === undefined)
  })

  it('refuses a body over the block size limit without downloading it', async t => {
    const { cid } = await fileDag(t, 5000, 86)
    let sent = 0
    let cut = false
    const endless = await plainServer(t, (_req, res) => {
      res.writeHead(200, { 'content-type': RAW })
      res.on('close', () => { cut = true })
      const chunk = new Uint8Array(64 * 1024)
      const pump = (): void => {
        while (!cut && sent < 256 * 1024 * 1024) {
          sent += chunk.length
          if (!res.write(chunk)) { res.once('drain', pump); return }
        }
      }
      pump()
    })
    await assert.rejects(gatewaySource(endless, { timeout: 10_000 }).request([cid], {}), (err: { code?: string, message: string }) => err.code === 'ERR_MIRROR' && /block limit/.test(err.message))
    await waitFor(() => cut, { what: 'the connection to be dropped' })
    assert.ok(sent < 32 * 1024 * 1024, `the server got to send only ${sent} bytes`)
    // a body announced too large is refused before any of it is read
    const announced = await plainServer(t, (_req, res) => { res.writeHead(200, { 'content-length': String(2 * 1024 * 1024) }).flushHeaders() })
    // the server sends headers and never a byte of body: only a refusal on the headers ends this before the timeout
    await assert.rejects(gatewaySource(announced, { timeout: 600_000 }).request([cid], {}), (err: { code?: string, message: string }) => err.code === 'ERR_MIRROR' && /announced/.test(err.message))
  })

  it('stops at once when the caller aborts', async t => {
    const { cid } = await fileDag(t, 5000, 87)
    const controller = new AbortController()
    // the server never answers; the caller aborts once the request is there, with the source's timeout far off
    const silent = await plainServer(t, () => { controller.abort() })
    await assert.rejects(gatewaySource(silent, { timeout: 600_000 }).request([cid], { signal: controller.signal }), { code: 'ERR_ABORTED' })
  })

  it('refuses a base URL that is not http(s) and options out of range', () => {
    assert.throws(() => gatewaySource('not a url'), { code: 'ERR_INVALID_OPTION' })
    assert.throws(() => gatewaySource('ftp://example.com'), { code: 'ERR_INVALID_OPTION' })
    assert.throws(() => gatewaySource('http://127.0.0.1:1', { concurrency: 0 }), { code: 'ERR_INVALID_OPTION' })
    assert.throws(() => gatewaySource('http://127.0.0.1:1', { timeout: -1 }), { code: 'ERR_INVALID_OPTION' })
  })

  it('lets a fetch drop a gateway that sends wrong bytes and get them from a good one', async t => {
    const { store: good, data, cid } = await fileDag(t, 200_000, 88)
    const { store: bad } = await fileDag(t, 200_000, 88, false)
    for (const leaf of leaves(bad, cid)) await corrupt(bad, leaf)
    // a gateway that serves its store without verifying it
    const liarUrl = await plainServer(t, (req, res) => {
      const c = CID.parse(/^\/ipfs\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '')
      void bad.has(c).then(held => {
        if (!held) return res.writeHead(404).end()
        res.writeHead(200, { 'content-type': RAW }).end(bad.getSync(c))
      })
    })
    const gw = await gatewayOver(t, good)
    const complaints: string[] = []
    const liar: BlockSource = { ...gatewaySource(liarUrl, { id: 'liar' }), misbehaved: why => complaints.push(why) }
    const local = tempStore(t)
    const r = await fetchDag(local, cid, [liar, gatewaySource(gw.url, { id: 'good' })], { batchSize: 8 })
    assert.deepEqual(await collect(cat(local, cid)), Buffer.from(data))
    assert.equal(complaints.length, 1, 'the liar was caught once and dropped')
    assert.ok((r.sources.good ?? 0) > 0)
    assert.ok(leaves(good, cid).every(c => c.code === CODEC_RAW))
  })
})
