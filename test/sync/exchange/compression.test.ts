import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { cidOf } from '../../../src/dag/cid.js'
import { CODEC_RAW } from '../../../src/dag/constants.js'
import { getHasher } from '../../../src/dag/hashing.js'
import { createNode, type CmeshNode, type NodeOptions } from '../../../src/node/index.js'
import type { Block } from '../../../src/store/interface.js'
import { CompressionGate, compress, decompress, packBlocks, unpackBlocks, type ZBlocksMessage } from '../../../src/sync/exchange/compression.js'
import { MAX_COMPRESS_SKIP, MAX_MESSAGE_BYTES, MIN_COMPRESS_BYTES } from '../../../src/sync/exchange/constants.js'
import { encodeFrame, framedLength, framePrefix } from '../../../src/sync/exchange/framing.js'
import { decodeMessage, encodeBinaryBlocks, encodeBinaryBlocksFrom, encodeMessage, type CompressionAlg } from '../../../src/sync/exchange/wire.js'
import { installFaults } from '../../helpers/faulty-peer.js'
import { collect, pseudoRandom, tempDir } from '../../helpers/temp.js'

const WORDS = 'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no will more can out said up what about into than them only some could time these two may first then do any like my now over such our man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ')

/** Text-like bytes that compress several times over but never repeat a chunk, so deduplication cannot shrink them. */
function wordSalad (size: number, seed: number): Uint8Array {
  const pick = pseudoRandom(size, seed)
  let text = ''
  for (let i = 0; text.length < size; i++) text += WORDS[pick[i]! % WORDS.length]! + (pick[i]! % 13 === 0 ? '.\n' : ' ')
  return new TextEncoder().encode(text.slice(0, size))
}

async function blocksOf (...chunks: Uint8Array[]): Promise<Block[]> {
  const h = await getHasher('blake3')
  return chunks.map(bytes => ({ cid: cidOf(h, CODEC_RAW, bytes), bytes }))
}

/** A zblocks message built by hand, as a hostile peer might send it. */
function zblocks (alg: CompressionAlg, size: number, data: Uint8Array): ZBlocksMessage {
  return decodeMessage(encodeMessage({ t: 'zblocks', alg, size, data })) as ZBlocksMessage
}

describe('compressed blocks on the wire', () => {
  it('sends a compressible batch as a smaller zblocks message that round-trips to the same blocks', async () => {
    const blocks = await blocksOf(wordSalad(300_000, 1), wordSalad(200_000, 2), wordSalad(100, 3))
    const plain = encodeBinaryBlocks(blocks)
    const packed = await packBlocks(blocks)
    const m = decodeMessage(packed)
    assert.equal(m.t, 'zblocks')
    assert.ok(m.t === 'zblocks' && m.alg === 'br' && m.size === plain.length)
    assert.ok(packed.length < plain.length / 2, `${packed.length} bytes compressed, ${plain.length} plain`)
    assert.deepEqual(encodeMessage(decodeMessage(packed)), packed, 'canonical: re-encodes to the same bytes')
    const back = await unpackBlocks(m)
    assert.deepEqual(encodeBinaryBlocks(back.blocks), plain)
    // gzip too: a receiver accepts either
    const gz = decodeMessage(await packBlocks(blocks, { alg: 'gzip' }))
    assert.ok(gz.t === 'zblocks' && gz.alg === 'gzip')
    assert.deepEqual(encodeBinaryBlocks((await unpackBlocks(gz)).blocks), plain)
    // to a /cmesh/blocks/1.0.0 peer the compressed payload is the DAG-CBOR blocks message
    const v1 = decodeMessage(await packBlocks(blocks, { binary: false }))
    assert.ok(v1.t === 'zblocks')
    assert.deepEqual(encodeMessage(await unpackBlocks(v1)), encodeMessage({ t: 'blocks', blocks }))
  })

  it('sends incompressible (random) data, small messages, and everything when compression is off as plain blocks', async () => {
    const random = await blocksOf(pseudoRandom(700_000, 4), pseudoRandom(300_000, 5))
    assert.deepEqual(await packBlocks(random), encodeBinaryBlocks(random))
    // built from sizes and a copier (as a block store does), the message is the same; a copier that writes another
    // size than the entry says is refused
    const heads = random.map(b => ({ cid: b.cid, size: b.bytes.length }))
    const copier = (k: number, out: Uint8Array, at: number): number => { out.set(random[k]!.bytes, at); return random[k]!.bytes.length }
    assert.deepEqual(encodeBinaryBlocksFrom(heads, copier), encodeBinaryBlocks(random))
    assert.throws(() => encodeBinaryBlocksFrom([{ ...heads[0]!, size: heads[0]!.size - 1 }, heads[1]!], copier), RangeError)
    assert.deepEqual(await packBlocks(random, { binary: false }), encodeMessage({ t: 'blocks', blocks: random }))
    const small = await blocksOf(new Uint8Array(MIN_COMPRESS_BYTES / 2))
    assert.equal(decodeMessage(await packBlocks(small)).t, 'blocks')
    // saving less than MIN_COMPRESSION_GAIN is not worth it
    const barely = await blocksOf(Uint8Array.from([...pseudoRandom(40_000, 6), ...new Uint8Array(2_000)]))
    assert.equal(decodeMessage(await packBlocks(barely)).t, 'blocks')
    const text = await blocksOf(wordSalad(100_000, 7))
    assert.equal(decodeMessage(await packBlocks(text, { compress: false })).t, 'blocks')
  })

  it('refuses a payload that inflates past its declared size (bomb)', async () => {
    const zeros = new Uint8Array(1024 * 1024)
    for (const [alg, data] of [['br', await compress('br', zeros)], ['gzip', await compress('gzip', zeros)]] as const) {
      assert.ok(data.length < 5000)
      await assert.rejects(unpackBlocks(zblocks(alg, 1000, data)), { code: 'ERR_PROTOCOL' })
      await assert.rejects(decompress(alg, data, 1000), { code: 'ERR_PROTOCOL' })
      await assert.rejects(decompress(alg, data, MAX_MESSAGE_BYTES + 1), { code: 'ERR_PROTOCOL' })
    }
    // the largest bomb a peer can declare: stopped at MAX_MESSAGE_BYTES
    const huge = await compress('br', new Uint8Array(64 * 1024 * 1024))
    await assert.rejects(unpackBlocks(zblocks('br', MAX_MESSAGE_BYTES, huge)), { code: 'ERR_PROTOCOL' })
  })

  it('refuses a payload that inflates to fewer bytes than declared', async () => {
    const plain = encodeMessage({ t: 'blocks', blocks: await blocksOf(wordSalad(50_000, 8)) })
    for (const alg of ['br', 'gzip'] as const) {
      const data = await compress(alg, plain)
      assert.equal((await decompress(alg, data, plain.length)).length, plain.length)
      await assert.rejects(unpackBlocks(zblocks(alg, plain.length + 1, data)), { code: 'ERR_PROTOCOL' })
      await assert.rejects(unpackBlocks(zblocks(alg, plain.length - 1, data)), { code: 'ERR_PROTOCOL' })
    }
  })

  it('refuses corrupted and truncated compressed payloads', async () => {
    const plain = encodeMessage({ t: 'blocks', blocks: await blocksOf(wordSalad(50_000, 9)) })
    for (const alg of ['br', 'gzip'] as const) {
      const data = await compress(alg, plain)
      await assert.rejects(unpackBlocks(zblocks(alg, plain.length, data.subarray(0, data.length - 10))), { code: 'ERR_PROTOCOL' }, `${alg} truncated`)
      await assert.rejects(unpackBlocks(zblocks(alg, plain.length, pseudoRandom(2000, 10))), { code: 'ERR_PROTOCOL' }, `${alg} garbage`)
    }
    // gzip carries a CRC: one flipped bit anywhere is caught
    const gz = Uint8Array.from(await compress('gzip', plain))
    const at = gz.length >> 1
    gz[at] = gz[at]! ^ 0x10
    await assert.rejects(unpackBlocks(zblocks('gzip', plain.length, gz)), { code: 'ERR_PROTOCOL' })
    // brotli does not: a flip that still inflates gives bytes the fetcher's CID check refuses (node tests)
  })

  it('refuses a zblocks whose payload is not a blocks message', async () => {
    const h = await getHasher('blake3')
    const cid = cidOf(h, CODEC_RAW, new Uint8Array(1))
    for (const inner of [
      encodeMessage({ t: 'have', cids: Array(100).fill(cid) }),
      encodeMessage({ t: 'zblocks', alg: 'br', size: 10, data: new Uint8Array(900) }),
      new TextEncoder().encode('x'.repeat(2000))
    ]) {
      await assert.rejects(unpackBlocks(zblocks('br', inner.length, await compress('br', inner))), { code: 'ERR_PROTOCOL' })
    }
  })

  it('decodes zblocks strictly: exact fields, a known alg, an integer size within the limit', () => {
    const data = new Uint8Array([1, 2, 3])
    const bad: unknown[] = [
      { t: 'zblocks', alg: 'zstd', size: 10, data },
      { t: 'zblocks', alg: 'br', size: 10, data, extra: 1 },
      { t: 'zblocks', alg: 'br', size: 10 },
      { t: 'zblocks', alg: 'br', data },
      { t: 'zblocks', alg: 'br', size: 0, data },
      { t: 'zblocks', alg: 'br', size: -5, data },
      { t: 'zblocks', alg: 'br', size: 1.5, data },
      { t: 'zblocks', alg: 'br', size: '10', data },
      { t: 'zblocks', alg: 'br', size: MAX_MESSAGE_BYTES + 1, data },
      { t: 'zblocks', alg: 'br', size: 2 ** 60, data },
      { t: 'zblocks', alg: 'br', size: 10, data: new Uint8Array(0) },
      { t: 'zblocks', alg: 'br', size: 10, data: 'text' },
      { t: 'zblocks', alg: ['br'], size: 10, data }
    ]
    for (const value of bad) assert.throws(() => decodeMessage(dagCbor.encode(value as never)), { code: 'ERR_PROTOCOL' }, JSON.stringify(value, (_k, v) => v instanceof Uint8Array ? `<${v.length} bytes>` : v))
    // size 10 written as the float 10.0: decodes to the number 10, but is not canonical
    const canonical = dagCbor.encode({ t: 'zblocks', alg: 'br', size: 10, data })
    assert.equal(canonical[canonical.length - 1], 10, 'size is the last field (DAG-CBOR sorts keys by length)')
    const asFloat = Buffer.concat([canonical.subarray(0, canonical.length - 1), Uint8Array.of(0xfb, 0x40, 0x24, 0, 0, 0, 0, 0, 0)])
    assert.deepEqual(dagCbor.decode(asFloat), { t: 'zblocks', alg: 'br', size: 10, data })
    assert.throws(() => decodeMessage(asFloat), { code: 'ERR_PROTOCOL' })
    assert.equal(decodeMessage(canonical).t, 'zblocks')
  })

  it('never fails a hostile zblocks with anything but ERR_PROTOCOL (fuzz)', async () => {
    const plain = encodeMessage({ t: 'blocks', blocks: await blocksOf(wordSalad(4000, 11)) })
    const good = await compress('br', plain)
    await fc.assert(fc.asyncProperty(fc.constantFrom<CompressionAlg>('br', 'gzip'), fc.integer({ min: 1, max: 10_000 }), fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.nat(good.length - 1), async (
      alg,
      size,
      bytes,
      at
    ) => {
      // arbitrary bytes, and the good payload with arbitrary bytes spliced in
      const spliced = Uint8Array.from([...good.subarray(0, at), ...bytes, ...good.subarray(at)])
      for (const data of [bytes, spliced]) {
        try {
          await unpackBlocks(zblocks(alg, size, data))
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'ERR_PROTOCOL', (err as Error).message)
        }
      }
    }), { numRuns: 300 })
  })

  it('counts a frame as its varint length prefix plus its payload', () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, 1_048_576, MAX_MESSAGE_BYTES]) {
      assert.equal(framedLength(n), encodeFrame(new Uint8Array(n)).length, `${n}`)
      assert.equal(framedLength(n), framePrefix(n).length + n, `${n}`)
    }
    assert.deepEqual([...framePrefix(300)], [0xac, 0x02])
  })

  it('stops sampling a peer whose messages do not compress, backing off up to MAX_COMPRESS_SKIP, and resumes when one pays', async () => {
    const random = await blocksOf(pseudoRandom(200_000, 8))
    const text = await blocksOf(wordSalad(200_000, 9))
    const gate = new CompressionGate()
    // every pack is plain; count how many of them were tried (a tried one records a verdict and sets a skip)
    const tried: boolean[] = []
    for (let i = 0; i < 40; i++) {
      const probe = new CompressionGate()
      Object.assign(probe, gate)
      tried.push(probe.shouldTry())
      assert.deepEqual(await packBlocks(random, { gate }), encodeBinaryBlocks(random))
    }
    // tried at messages 0, 2, 5, 10, 19, then every MAX_COMPRESS_SKIP + 1
    const at = tried.flatMap((t, i) => t ? [i] : [])
    assert.deepEqual(at.slice(0, 5), [0, 2, 5, 10, 19])
    assert.equal(at[5]! - at[4]!, MAX_COMPRESS_SKIP + 1)
    // compressible data waits out the skip, then compresses, and the next message is tried at once
    let waited = 0
    while (decodeMessage(await packBlocks(text, { gate })).t === 'blocks') waited++
    assert.ok(waited <= MAX_COMPRESS_SKIP, `${waited} plain messages before compressing`)
    assert.equal(decodeMessage(await packBlocks(text, { gate })).t, 'zblocks')
  })
})

async function startNode (t: TestContext, options: NodeOptions = {}): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...options })
  t.after(async () => await node.stop())
  return node
}

describe('nodes exchanging compressed blocks over loopback', () => {
  it('fetches compressible content byte-identical with far fewer bytes on the wire', async t => {
    const data = wordSalad(600_000, 21)
    const server = await startNode(t)
    const { cid } = await server.add(writeTemp(t, data))
    const client = await startNode(t, { bootstrap: [server.addrs()[0]!] })
    const r = await client.fetch(cid)
    assert.deepEqual(await collect(client.cat(cid)), Buffer.from(data))
    assert.ok(r.wireBytes > 0 && r.wireBytes < data.length / 2, `${r.wireBytes} bytes on the wire for ${data.length} bytes of content`)
    assert.equal(r.wire[server.peerId.toString()], r.wireBytes)
  })

  it('sends random data, and anything from a node with compression off, plain: wire bytes cover the content', async t => {
    const random = pseudoRandom(400_000, 22)
    const text = wordSalad(400_000, 23)
    const server = await startNode(t)
    const plainServer = await startNode(t, { compress: false })
    const randomCid = (await server.add(writeTemp(t, random))).cid
    const textCid = (await plainServer.add(writeTemp(t, text))).cid
    const client = await startNode(t, { bootstrap: [server.addrs()[0]!, plainServer.addrs()[0]!] })
    const r1 = await client.fetch(randomCid)
    assert.deepEqual(await collect(client.cat(randomCid)), Buffer.from(random))
    assert.ok(r1.wireBytes >= random.length, `${r1.wireBytes} on the wire for ${random.length} bytes of content`)
    const r2 = await client.fetch(textCid)
    assert.deepEqual(await collect(client.cat(textCid)), Buffer.from(text))
    assert.ok(r2.wireBytes >= text.length, `${r2.wireBytes} on the wire for ${text.length} bytes of content`)
  })

  it('scores down a peer whose zblocks inflates past its declared size and completes from an honest one', async t => {
    const data = wordSalad(500_000, 24)
    const file = writeTemp(t, data)
    const bomber = await startNode(t)
    await installFaults(bomber, { compressionBomb: true })
    const honest = await startNode(t)
    const { cid } = await honest.add(file)
    await bomber.add(file)
    const client = await startNode(t, { bootstrap: [bomber.addrs()[0]!, honest.addrs()[0]!] })
    const r = await client.fetch(cid, { batchSize: 8 })
    assert.deepEqual(await collect(client.cat(cid)), Buffer.from(data))
    assert.equal(r.sources[bomber.peerId.toString()] ?? 0, 0, 'nothing was taken from the bomber')
    assert.ok(client.blocks.peer(bomber.peerId.toString()).score < 0, 'the bomber was scored down')
    assert.equal(client.blocks.peer(honest.peerId.toString()).score, 0)
  })
})

function writeTemp (t: TestContext, data: Uint8Array): string {
  const file = join(tempDir(t), 'f')
  writeFileSync(file, data)
  return file
}
