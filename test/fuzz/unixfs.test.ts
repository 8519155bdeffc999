import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import fc from 'fast-check'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { checkEntryName } from '../../src/dag/nodes.js'
import { dagPbLinks, decodeUnixfs, HamtBits } from '../../src/dag/unixfs/index.js'
import { arbitraryBytes, cidArb, decodeOrRefuse, decodeOrRefuseAsync, mutatedFrom } from './helpers.js'
import { fuzzParams } from './settings.js'

const CODES = ['ERR_INVALID_NODE']
/** The CID a block is decoded under: only named in errors. */
const NODE_CID = CID.parse('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi')

const nameArb = fc.oneof(fc.stringMatching(/^[A-Za-z0-9._ -]{0,12}$/), fc.constantFrom('..', '.', 'a/b', 'a\\b', 'x\0y', 'é', '0A..', 'FF'))
const linkArb: fc.Arbitrary<dagPb.PBLink> = fc.record({
  Hash: cidArb,
  Name: fc.option(nameArb, { nil: undefined }),
  Tsize: fc.option(fc.nat(), { nil: undefined })
})
const unixfsArb = fc.record({
  type: fc.constantFrom('file', 'raw', 'directory', 'symlink', 'hamt-sharded-directory', 'metadata') as fc.Arbitrary<'file'>,
  data: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  blockSizes: fc.array(fc.bigInt({ min: 0n, max: 2n ** 60n }), { maxLength: 4 }),
  fanout: fc.option(fc.constantFrom(0n, 1n, 3n, 16n, 256n, 2048n), { nil: undefined }),
  mode: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined })
})
/** Encoded DAG-PB blocks with UnixFS data, well-formed protobuf, meaning anything. */
const blockArb = fc.tuple(unixfsArb, fc.array(linkArb, { maxLength: 5 })).map(([fs, links]) =>
  dagPb.encode(dagPb.prepare({ Data: new UnixFS(fs).marshal(), Links: links })))

describe('fuzz: UnixFS decoding', () => {
  it('decodes or refuses with ERR_INVALID_NODE, and what it accepts has safe names and sane sizes', () => {
    fc.assert(fc.property(fc.oneof(blockArb, mutatedFrom(blockArb).map(m => m.bytes), arbitraryBytes), bytes => {
      const links = decodeOrRefuse(() => dagPbLinks(NODE_CID, bytes), CODES, 'dagPbLinks')
      const out = decodeOrRefuse(() => decodeUnixfs(NODE_CID, bytes), CODES, 'decodeUnixfs')
      if (!out.ok) return
      assert.ok(links.ok, 'a node decodeUnixfs accepts has links')
      const node = out.value
      if (node.type === 'file') {
        assert.ok(Number.isSafeInteger(node.size) && node.size === node.data.length + node.children.reduce((s, c) => s + c.size, 0))
      } else if (node.type === 'dir') {
        for (const l of node.links) assert.equal(checkEntryName(l.name), undefined, `accepted ${JSON.stringify(l.name)}`)
      } else if (node.type === 'hamt') {
        assert.ok(node.fanout >= 2 && node.fanout <= 1024 && (node.fanout & (node.fanout - 1)) === 0)
        for (const l of node.links) if (l.name !== undefined) assert.equal(checkEntryName(l.name), undefined, `accepted ${JSON.stringify(l.name)}`)
      } else {
        assert.ok(node.target.length > 0 && !node.target.includes('\0'))
      }
    }), fuzzParams())
  })

  it('places any name in a HAMT without failing', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ maxLength: 40 }), fc.integer({ min: 1, max: 10 }), async (name, bits) => {
      const placed = await decodeOrRefuseAsync(async () => await new HamtBits(name).take(bits), [], 'HamtBits')
      assert.ok(placed.ok && placed.value >= 0 && placed.value < 2 ** bits)
    }), fuzzParams(0.5))
  })
})
