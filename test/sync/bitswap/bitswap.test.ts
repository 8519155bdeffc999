import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight, type HeliaWithLibp2p } from '@helia/libp2p'
import { identify } from '@libp2p/identify'
import type { ServiceMap } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { yamux } from '@libp2p/yamux'
import { MemoryBlockstore } from 'blockstore-core'
import { createHeliaLight } from 'helia'
import { importer } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import { from as hasherFrom } from 'multiformats/hashes/hasher'
import { HASH_BLAKE3 } from '../../../src/dag/constants.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { importBytes } from '../../../src/dag/importer.js'
import { blockLinks } from '../../../src/dag/links.js'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { BITSWAP_PROTOCOLS, BITSWAP_UPLOAD_GROUP } from '../../../src/sync/bitswap/index.js'
import { collect, pseudoRandom, tempDir } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

/** A Helia node as its users start one (bitswap over TCP, TLS, yamux; identify), on loopback, with BLAKE3 known. */
async function heliaNode (t: TestContext, blockstore = new MemoryBlockstore()): Promise<HeliaWithLibp2p<ServiceMap>> {
  const ours = await getHasher('blake3')
  const blake3 = hasherFrom({ name: 'blake3', code: HASH_BLAKE3, encode: bytes => ours.digest(bytes) as Uint8Array<ArrayBuffer> })
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore, hashers: [blake3] }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [tls()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  }))
  await helia.start()
  t.after(async () => { await helia.stop() })
  return helia
}

async function cmeshNode (t: TestContext, options: { uploadLimit?: number } = {}): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...options })
  t.after(async () => { await node.stop() })
  return node
}

/** Every block under `root` read through Helia (bitswap fetches what its blockstore lacks), by our link walker. */
async function readDag (helia: HeliaWithLibp2p<ServiceMap>, root: CID): Promise<Map<string, Uint8Array>> {
  const blocks = new Map<string, Uint8Array>()
  const queue = [root]
  while (queue.length > 0) {
    const cid = queue.pop()!
    if (blocks.has(cid.toString())) continue
    const pieces: Uint8Array[] = []
    for await (const piece of helia.blockstore.get(cid, { signal: AbortSignal.timeout(60_000) })) pieces.push(piece)
    const bytes = Buffer.concat(pieces)
    blocks.set(cid.toString(), bytes)
    queue.push(...blockLinks(cid, bytes))
  }
  return blocks
}

describe('bitswap with IPFS nodes (a real Helia node on loopback)', () => {
  it('serves a cmesh file to a Helia node over bitswap, every block byte-identical', async t => {
    const node = await cmeshNode(t)
    const content = pseudoRandom(600_000, 11)
    const { cid } = await importBytes(node.store, content, { pin: true })
    const helia = await heliaNode(t)
    await helia.libp2p.dial(node.libp2p.getMultiaddrs()[0]!)
    // the cmesh node says it speaks bitswap (identify), so Helia sends it its want list
    await waitFor(async () => (await helia.libp2p.peerStore.get(node.libp2p.peerId)).protocols.some(p => BITSWAP_PROTOCOLS.includes(p)), { what: 'identify' })
    const got = await readDag(helia, cid)
    assert.ok(got.size > 1, 'a multi-block file')
    for (const [key, bytes] of got) {
      assert.deepEqual(Buffer.from(bytes), Buffer.from(node.store.getSync(CID.parse(key))), key)
    }
    assert.deepEqual(Buffer.from(await collect(node.cat(cid))), Buffer.from(content))
    // the bytes went out through the upload scheduler, as one upload group for all bitswap peers
    const row = node.stats().find(r => r.peer === BITSWAP_UPLOAD_GROUP)
    const served = [...got.values()].reduce((n, b) => n + b.length, 0)
    assert.ok(row !== undefined && row.sent >= served, `bitswap row ${JSON.stringify(row)} for ${served} bytes`)
    assert.equal(row.group, BITSWAP_UPLOAD_GROUP)
  })

  it('fetches a UnixFS file from a Helia node over bitswap, verified and pinned', async t => {
    const blockstore = new MemoryBlockstore()
    const helia = await heliaNode(t, blockstore)
    const content = pseudoRandom(900_000, 12)
    let root: CID | undefined
    // ipfs-unixfs-importer's defaults: SHA-256, 256 KiB chunks, raw leaves, a dag-pb root
    for await (const entry of importer([{ content }], blockstore)) root = entry.cid
    const node = await cmeshNode(t)
    await node.libp2p.dial(helia.libp2p.getMultiaddrs()[0]!)
    await waitFor(async () => (await node.libp2p.peerStore.get(helia.libp2p.peerId)).protocols.some(p => BITSWAP_PROTOCOLS.includes(p)), { what: 'identify' })
    const r = await node.fetch(root!)
    assert.equal(r.sources[helia.libp2p.peerId.toString()] !== undefined, true, 'the Helia node is the source')
    assert.ok(node.store.isComplete(root!))
    // every block now held is Helia's, byte for byte
    // every block of the DAG, walked in our store, is Helia's byte for byte
    let blocks = 0
    const queue = [root!]
    while (queue.length > 0) {
      const cid = queue.pop()!
      const ours = node.store.getSync(cid)
      const theirs: Uint8Array[] = []
      for await (const piece of blockstore.get(cid)) theirs.push(piece)
      assert.deepEqual(Buffer.from(ours), Buffer.concat(theirs), cid.toString())
      queue.push(...blockLinks(cid, ours))
      blocks++
    }
    assert.ok(blocks > 3, `${blocks} blocks`)
  })

  it('does not start bitswap when a node is created with bitswap: false', async t => {
    const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bitswap: false })
    t.after(async () => { await node.stop() })
    assert.equal(node.libp2p.getProtocols().some(p => BITSWAP_PROTOCOLS.includes(p)), false)
  })
})
