import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { CarBlockIterator } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { parseCid } from '../../src/dag/cid.js'
import { CODEC_RAW } from '../../src/dag/constants.js'
import { cat, ls, resolvePath } from '../../src/dag/exporter.js'
import { verifyBlock } from '../../src/dag/verify.js'
import type { Blockstore } from '../../src/store/interface.js'
import { fetchDag } from '../../src/sync/fetch/fetcher.js'
import { gatewaySource } from '../../src/sync/fetch/gateway-source.js'
import { startGateway } from '../../src/sync/http/gateway.js'
import { runCli } from '../helpers/cli.js'
import { collect, pseudoRandom, tempDir, tempStore } from '../helpers/temp.js'

/**
 * Identity CIDs (multihash 0x00): the block's bytes are the digest, inside the CID. Kubo writes them for tiny
 * blocks (`ipfs add --inline`); a DAG holding them is read, served and fetched without their ever being stored or
 * asked of a peer, up to 128 inline bytes.
 */

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const inline = (bytes: Uint8Array, codec = CODEC_RAW): CID => CID.createV1(codec, identity.digest(bytes))

interface Block { cid: CID, bytes: Uint8Array }

async function pbBlock (data: UnixFS, links: dagPb.PBLink[]): Promise<Block> {
  const bytes = dagPb.encode(dagPb.prepare({ Data: data.marshal(), Links: links }))
  return { cid: CID.createV1(dagPb.code, await sha256.digest(bytes)), bytes }
}

/**
 * A UnixFS tree as Kubo writes it with --inline: a file of three leaves (an inline one, a stored one, an inline
 * one), an inline file, and an inline directory holding an inline file. Only the stored blocks are returned.
 */
async function inlineTree (): Promise<{ root: CID, file: CID, stored: Block[], head: Uint8Array, body: Uint8Array, tail: Uint8Array }> {
  const head = enc('head of the file\n')
  const body = pseudoRandom(5000, 31)
  const tail = enc('tail\n')
  const bodyCid = CID.createV1(CODEC_RAW, await sha256.digest(body))
  const fileData = new UnixFS({ type: 'file' })
  for (const part of [head, body, tail]) fileData.addBlockSize(BigInt(part.length))
  const file = await pbBlock(fileData, [inline(head), bodyCid, inline(tail)].map((Hash, i) => ({ Hash, Tsize: [head, body, tail][i]!.length })))
  const hello = enc('hello from inside a CID\n')
  const innerBytes = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [{ Name: 'hello.txt', Hash: inline(hello), Tsize: hello.length }] }))
  assert.ok(innerBytes.length <= 128, 'small enough to be inline')
  const innerDir = inline(innerBytes, dagPb.code)
  const root = await pbBlock(new UnixFS({ type: 'directory' }), [
    { Name: 'inline-dir', Hash: innerDir, Tsize: innerBytes.length },
    { Name: 'mixed.bin', Hash: file.cid, Tsize: file.bytes.length + body.length },
    { Name: 'tiny.txt', Hash: inline(enc('tiny\n')), Tsize: 5 }
  ])
  return { root: root.cid, file: file.cid, stored: [root, file, { cid: bodyCid, bytes: body }], head, body, tail }
}

async function storeTree (t: TestContext): Promise<{ store: Blockstore } & Awaited<ReturnType<typeof inlineTree>>> {
  const tree = await inlineTree()
  const store = tempStore(t)
  for (const b of tree.stored) await store.put(b.cid, b.bytes)
  return { store, ...tree }
}

describe('identity CIDs', () => {
  it('parse up to 128 inline bytes and are refused with ERR_IDENTITY_TOO_LARGE above', async () => {
    const at = inline(new Uint8Array(128).fill(1))
    assert.equal(parseCid(at.toString()).toString(), at.toString())
    assert.equal(parseCid('bafkqaaa').multihash.digest.length, 0, 'the empty identity CID')
    assert.throws(() => parseCid(inline(new Uint8Array(129)).toString()), { code: 'ERR_IDENTITY_TOO_LARGE' })
    await verifyBlock(at, new Uint8Array(128).fill(1))
    await assert.rejects(verifyBlock(at, new Uint8Array(128).fill(2)), { code: 'ERR_BLOCK_CORRUPT' })
  })

  it('are answered by the store from the CID, never written, and walked for their links', async t => {
    const store = tempStore(t)
    const bytes = enc('inline bytes')
    const cid = inline(bytes)
    assert.equal(await store.has(cid), true)
    assert.deepEqual(store.getSync(cid), bytes)
    assert.equal(store.sizeOf(cid), bytes.length)
    const out = new Uint8Array(20)
    assert.equal(store.copyInto(cid, out, 3), bytes.length)
    assert.deepEqual(out.subarray(3, 3 + bytes.length), bytes)
    assert.deepEqual(await store.put(cid, bytes), { newBlocks: 0, newBytes: 0 })
    assert.equal(store.stat().blocks, 0, 'nothing written')
    assert.throws(() => store.getSync(inline(new Uint8Array(200))), { code: 'ERR_IDENTITY_TOO_LARGE' })

    const tree = await storeTree(t)
    assert.deepEqual(tree.store.missing(tree.root), [], 'an inline block is never missing')
    await tree.store.pin(tree.root)
    assert.equal(tree.store.isComplete(tree.root), true)
    assert.equal(tree.store.stat().blocks, 3, 'the three stored blocks, no inline one')
    assert.equal((await tree.store.gc()).removedBlocks, 0)
  })

  it('read in a UnixFS DAG: a file with inline leaves, an inline file, an inline directory', async t => {
    const { store, root, file, head, body, tail } = await storeTree(t)
    assert.deepEqual(await collect(cat(store, file)), Buffer.concat([head, body, tail]))
    const across = await collect(cat(store, file, { offset: head.length - 3, length: 10 }))
    assert.deepEqual(across, Buffer.concat([head, body]).subarray(head.length - 3, head.length + 7), 'a range across an inline leaf')
    const names = []
    for await (const e of ls(store, root)) names.push(`${e.kind} ${e.name} ${e.size}`)
    assert.deepEqual(names, ['dir inline-dir 49', 'file mixed.bin 5022', 'file tiny.txt 5'])
    assert.equal(new TextDecoder().decode(await collect(cat(store, (await resolvePath(store, root, 'inline-dir/hello.txt')).cid))), 'hello from inside a CID\n')
    assert.equal(new TextDecoder().decode(await collect(cat(store, (await resolvePath(store, root, 'tiny.txt')).cid))), 'tiny\n')

    const tooLarge = await pbBlock(new UnixFS({ type: 'file', blockSizes: [200n] }), [{ Hash: inline(new Uint8Array(200)), Tsize: 200 }])
    await store.put(tooLarge.cid, tooLarge.bytes)
    await assert.rejects(collect(cat(store, tooLarge.cid)), { code: 'ERR_IDENTITY_TOO_LARGE' })
  })

  it('are left out of a gateway\'s CARs and never asked of a gateway by a fetch', async t => {
    const { store, root, stored, head, body, tail } = await storeTree(t)
    const gw = await startGateway({ store })
    t.after(async () => await gw.close())
    const res = await fetch(`${gw.url}/ipfs/${root}?format=car`)
    const sent: string[] = []
    for await (const b of await CarBlockIterator.fromBytes(new Uint8Array(await res.arrayBuffer()))) sent.push(b.cid.toString())
    assert.deepEqual(new Set(sent), new Set(stored.map(b => b.cid.toString())), 'the stored blocks, no inline one')

    const local = tempStore(t)
    const r = await fetchDag(local, root, [gatewaySource(gw.url)])
    assert.equal(r.fetchedBlocks, 3)
    assert.equal(gw.requests, 1 + 3, 'the CAR, then one request per stored block')
    assert.deepEqual(await collect(cat(local, (await resolvePath(local, root, 'mixed.bin')).cid)), Buffer.concat([head, body, tail]))
  })

  it('cmesh cat and get take one, and refuse one over the cap in one line', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const cid = inline(enc('said inline\n'))
    const out = await runCli(['cat', cid.toString(), '--repo', repo])
    assert.equal(out.code, 0, out.stderr)
    assert.equal(out.stdout, 'said inline\n')
    const target = join(dir, 'got.txt')
    const got = await runCli(['get', cid.toString(), '-o', target, '--repo', repo])
    assert.equal(got.code, 0, got.stderr)
    assert.equal(readFileSync(target, 'utf8'), 'said inline\n')
    const big = await runCli(['cat', inline(new Uint8Array(129)).toString(), '--repo', repo])
    assert.notEqual(big.code, 0)
    assert.match(big.stderr, /^[^\n]*\[ERR_IDENTITY_TOO_LARGE\]\n$/)
  })
})
