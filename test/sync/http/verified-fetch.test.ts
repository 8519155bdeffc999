import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { withHTTP } from '@helia/http'
import { createVerifiedFetchWithHelia, type VerifiedFetch } from '@helia/verified-fetch'
import { CarBlockIterator } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import { createHeliaLight } from 'helia'
import { from } from 'multiformats/hashes/hasher'
import { cat, resolvePath } from '../../../src/dag/exporter.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { importBytes, importPath } from '../../../src/dag/importer.js'
import { verifyBlock } from '../../../src/dag/verify.js'
import type { Blockstore } from '../../../src/store/interface.js'
import { startGateway, type Gateway } from '../../../src/sync/http/gateway.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../../helpers/temp.js'

/**
 * @helia/verified-fetch, with this gateway as its only trustless gateway, fetching what cmesh holds. It asks the
 * gateway for raw blocks (`?format=raw`) and checks each against its CID itself. Offline: Helia is built without
 * libp2p and without delegated routers, and every fetch the process makes is checked to go to the gateway.
 *
 * What works: UnixFS content (`cmesh add --format unixfs`) comes back as its bytes, by CID, by path, and by range.
 * cmesh's own format (DAG-CBOR nodes) is not UnixFS, so verified-fetch answers a plain GET with the root node (as
 * application/vnd.ipld.dag-cbor), not the file; what it can do is fetch the whole DAG as a CAR (Accept:
 * application/vnd.ipld.car), every block verified (BLAKE3 blocks with a BLAKE3 hasher handed to Helia), which
 * cmesh's reader (`cmesh import` then `cmesh cat`) turns into the file's exact bytes.
 */

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

/** Every URL the process fetches, refused unless it is the gateway's: the test fails rather than reach the internet. */
function onlyTo (t: TestContext, gateway: Gateway): string[] {
  const seen: string[] = []
  const original = globalThis.fetch
  globalThis.fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    seen.push(url)
    if (!url.startsWith(gateway.url + '/')) throw new Error(`a fetch outside the gateway: ${url}`)
    return await original(input, init)
  }
  t.after(() => { globalThis.fetch = original })
  return seen
}

/** verified-fetch over a Helia that knows no router but the gateway, and no network but HTTP. */
async function verifiedFetchOver (t: TestContext, gateway: Gateway): Promise<VerifiedFetch> {
  const blake3 = await getHasher('blake3')
  const helia = withHTTP(createHeliaLight({
    hashers: [from({ name: 'blake3', code: blake3.code, encode: bytes => Uint8Array.from(blake3.digest(bytes)) })],
    codecs: [dagCbor],
    // Helia's routing reaches its fallback routers (the gateway, added by withHTTP) only after a default one has
    // answered; with none it waits forever. This one knows nothing and says so at once.
    routers: [{ name: 'nothing', findProviders: async function * () {} }]
  }), { delegatedRouters: [], recursiveGateways: [gateway.url], allowInsecure: true, allowLocal: true })
  await helia.start()
  const verifiedFetch = await createVerifiedFetchWithHelia(helia)
  t.after(async () => {
    await verifiedFetch.stop()
    await helia.stop()
  })
  return verifiedFetch
}

async function gatewayOver (t: TestContext, store: Blockstore): Promise<Gateway> {
  const gateway = await startGateway({ store })
  t.after(async () => await gateway.close())
  return gateway
}

describe('@helia/verified-fetch through the gateway', () => {
  it('returns a UnixFS file\'s exact bytes (SHA-256), by CID, by path and by range', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(300_000, 91)
    mkdirSync(join(dir, 'site', 'lib'), { recursive: true })
    writeFileSync(join(dir, 'site', 'lib', 'data.bin'), data)
    writeFileSync(join(dir, 'site', 'index.txt'), 'hello\n')
    const store = tempStore(t)
    const site = await importPath(store, join(dir, 'site'), { format: 'unixfs', hash: 'sha2-256', chunker: SMALL_CHUNKS })
    const file = await importBytes(store, data, { format: 'unixfs', hash: 'sha2-256', chunker: SMALL_CHUNKS })
    const gw = await gatewayOver(t, store)
    const urls = onlyTo(t, gw)
    const verifiedFetch = await verifiedFetchOver(t, gw)

    const whole = await verifiedFetch(`ipfs://${file.cid}`)
    assert.equal(whole.status, 200)
    assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), data)

    const byPath = await verifiedFetch(`ipfs://${site.cid}/lib/data.bin`)
    assert.equal(byPath.status, 200)
    assert.deepEqual(new Uint8Array(await byPath.arrayBuffer()), data)
    const small = await verifiedFetch(`ipfs://${site.cid}/index.txt`)
    assert.equal(await small.text(), 'hello\n')

    const part = await verifiedFetch(`ipfs://${file.cid}`, { headers: { range: 'bytes=100000-100999' } })
    assert.equal(part.status, 206)
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), data.subarray(100_000, 101_000))

    assert.ok(urls.length > 0 && urls.every(u => u.includes('format=raw')), 'verified-fetch asked the gateway for raw blocks')
    assert.equal(gw.requests, urls.length, 'and the gateway answered every one')
  })

  for (const hash of ['blake3', 'sha2-256'] as const) {
    it(`gets a cmesh-format file (${hash}) as a CAR it verified, which cmesh reads to the exact bytes; a plain GET is the root node`, async t => {
      const data = pseudoRandom(200_000, 92)
      const store = tempStore(t)
      const { cid } = await importBytes(store, data, { hash, chunker: SMALL_CHUNKS })
      const gw = await gatewayOver(t, store)
      onlyTo(t, gw)
      const verifiedFetch = await verifiedFetchOver(t, gw)

      // not UnixFS: verified-fetch cannot read the file, it hands back the root node
      const plain = await verifiedFetch(`ipfs://${cid}`)
      assert.equal(plain.status, 200)
      assert.equal(plain.headers.get('content-type'), 'application/vnd.ipld.dag-cbor')
      assert.deepEqual(new Uint8Array(await plain.arrayBuffer()), store.getSync(cid))

      const car = await verifiedFetch(`ipfs://${cid}`, { headers: { accept: 'application/vnd.ipld.car' } })
      assert.equal(car.status, 200)
      assert.match(car.headers.get('content-type') ?? '', /^application\/vnd\.ipld\.car/)
      const iterator = await CarBlockIterator.fromBytes(new Uint8Array(await car.arrayBuffer()))
      assert.deepEqual((await iterator.getRoots()).map(String), [cid.toString()])
      const client = tempStore(t)
      for await (const block of iterator) {
        await verifyBlock(block.cid, block.bytes)
        await client.put(block.cid, block.bytes)
      }
      assert.deepEqual(client.missing(cid), [], 'the CAR holds the whole DAG')
      assert.deepEqual(await collect(cat(client, (await resolvePath(client, cid, '')).cid)), Buffer.from(data))
    })
  }
})
