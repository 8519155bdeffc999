import assert from 'node:assert/strict'
import { posix } from 'node:path'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { blockLinks } from '../../src/dag/links.js'
import { checkEntryName, decodeNode, encodeArchiveNode, encodeDirNode, encodeDirParts, encodeFileNode, sortEntries, type DagNode, type DirEntry } from '../../src/dag/nodes.js'
import { deviationArb, encodeVariant, type Deviation } from './cbor-variants.js'
import { arbitraryBytes, assertSameBytes, cidArb, decodeOrRefuse, mutatedFrom, plain } from './helpers.js'
import { fuzzParams } from './settings.js'

const CODES = ['ERR_INVALID_NODE']
/** The CID a node is decoded under: only named in errors. */
const NODE_CID = CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
const utf8 = new TextEncoder()

const size = fc.integer({ min: 0, max: 2 ** 40 })
const mode = fc.integer({ min: 0, max: 0o7777 })
const nameArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._ -]{1,24}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc.constantFrom('\uFFFD', 'a\uFFFDb', 'é', '..a', '.hidden', 'x'.repeat(255), 'é'.repeat(127))
).filter(n => checkEntryName(n) === undefined)
const targetArb = fc.oneof(fc.stringMatching(/^[A-Za-z0-9./_-]{1,40}$/), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })).filter(t => !t.includes('\0'))

const entryArb: fc.Arbitrary<DirEntry> = fc.oneof(
  fc.record({ name: nameArb, kind: fc.constantFrom('file' as const, 'dir' as const), cid: cidArb, size, mode }),
  fc.record({ name: nameArb, kind: fc.constant('symlink' as const), target: targetArb, size: fc.constant(0), mode })
)
const fileLinks = fc.array(fc.record({ cid: cidArb, size }), { minLength: 1, maxLength: 6 })
const dirEntries = fc.uniqueArray(entryArb, { selector: e => e.name, maxLength: 6 }).map(es => sortEntries(es))
const dirParts = fc.array(fc.record({ cid: cidArb, size, count: fc.integer({ min: 0, max: 2 ** 30 }) }), { minLength: 1, maxLength: 6 })

const archiveArb = fc.record({
  size,
  format: fc.constant('tar+gzip' as const),
  content: fc.record({ cid: cidArb, size }),
  tree: cidArb,
  gzip: fc.record({
    header: fc.uint8Array({ minLength: 10, maxLength: 40 }),
    compressor: fc.constantFrom('node' as const, 'canonical' as const),
    level: fc.integer({ min: 0, max: 9 }),
    memLevel: fc.integer({ min: 1, max: 9 }),
    windowBits: fc.integer({ min: 9, max: 15 }),
    strategy: fc.integer({ min: 0, max: 4 })
  }),
  sha256: fc.uint8Array({ minLength: 32, maxLength: 32 })
})

const encodedNode = fc.oneof(fileLinks.map(encodeFileNode), dirEntries.map(encodeDirNode), dirParts.map(encodeDirParts), archiveArb.map(encodeArchiveNode))

/** The one encoding of a decoded node. */
function reencode (n: DagNode): Uint8Array {
  if (n.type === 'file') return encodeFileNode(n.links)
  if (n.type === 'archive') return encodeArchiveNode(n)
  if (n.parts !== undefined) return encodeDirParts(n.parts)
  return encodeDirNode(n.entries ?? [])
}

function assertCanonical (bytes: Uint8Array, node: DagNode): void {
  assertSameBytes(reencode(node), bytes, 'decodeNode accepted bytes that are not the encoding of the node it returned (one node, several CIDs)')
}

/** Every entry name of an accepted directory node is safe to create. */
function assertSafeNames (node: DagNode): void {
  for (const e of node.type === 'dir' ? node.entries ?? [] : []) assert.equal(checkEntryName(e.name), undefined, `decodeNode accepted the entry name ${JSON.stringify(e.name)}`)
}

describe('fuzz: DAG nodes (src/dag/nodes.ts decodeNode, checkEntryName; src/dag/links.ts blockLinks)', () => {
  it('decodes every encoded file node, directory node and directory parts node back to the same node', () => {
    fc.assert(fc.property(fc.oneof(
      fileLinks.map(links => ({ node: { type: 'file' as const, size: links.reduce((s, l) => s + l.size, 0), links }, bytes: encodeFileNode(links) })),
      dirEntries.map(entries => ({ node: { type: 'dir' as const, size: entries.reduce((s, e) => s + e.size, 0), entries }, bytes: encodeDirNode(entries) })),
      dirParts.map(parts => ({
        node: {
          type: 'dir' as const,
          size: parts.reduce((s, p) => s + p.size, 0),
          count: parts.reduce((s, p) => s + p.count, 0),
          parts
        },
        bytes: encodeDirParts(parts)
      }))
    ), ({ node, bytes }) => {
      assert.deepStrictEqual(plain(decodeNode(NODE_CID, bytes)), plain(node))
    }), fuzzParams())
  })

  it('refuses arbitrary bytes with InvalidNodeError, and accepts only canonical nodes with safe names', () => {
    fc.assert(fc.property(arbitraryBytes, bytes => {
      const r = decodeOrRefuse(() => decodeNode(NODE_CID, bytes), CODES, 'decodeNode')
      if (r.ok) { assertCanonical(bytes, r.value); assertSafeNames(r.value) }
    }), fuzzParams())
  })

  it('refuses a valid node with bytes flipped, inserted or deleted with InvalidNodeError, unless the result is a valid node', () => {
    fc.assert(fc.property(mutatedFrom(encodedNode), ({ bytes }) => {
      const r = decodeOrRefuse(() => decodeNode(NODE_CID, bytes), CODES, 'decodeNode')
      if (r.ok) assertSafeNames(r.value)
    }), fuzzParams())
  })

  it('refuses fields of another type, missing or extra fields, huge lengths and unsafe names in a node with InvalidNodeError', () => {
    fc.assert(fc.property(encodedNode, deviationArb.filter(d => ![
      'float16',
      'float32',
      'float64',
      'swapKeys',
      'invalidUtf8',
      'cidVersion0'
    ].includes(d.kind)), (encoded, dev) => {
      const variant = encodeVariant(dagCbor.decode(encoded), dev)
      const r = decodeOrRefuse(() => decodeNode(NODE_CID, variant.bytes), CODES, 'decodeNode')
      if (r.ok) { assertCanonical(variant.bytes, r.value); assertSafeNames(r.value) } else assert.ok(variant.applied, 'the canonical encoding of a valid node was refused')
    }), fuzzParams())
  })

  // Found by this suite, now fixed (src/dag/nodes.ts decodeNode): the decoder trusts @ipld/dag-cbor to be canonical, but it
  // accepts an integer written as a float (size 1 as f9 3c00), map keys out of order, invalid UTF-8 in a name (read
  // as U+FFFD) and a link's CID bytes as 00 <codec> <multihash> (read as a CIDv0). Each gives other bytes, so
  // another CID, for the same node. It failed until decodeNode compares a
  // re-encoding of what it decoded with the bytes (as src/analytics/wire.ts does).
  it('refuses every other encoding of a valid node (integers as floats, keys out of order, invalid UTF-8, CIDs as version 0): one node, one CID', () => {
    fc.assert(fc.property(encodedNode, deviationArb.filter(d => [
      'float16',
      'float32',
      'float64',
      'swapKeys',
      'invalidUtf8',
      'cidVersion0',
      'wideHeader',
      'indefinite'
    ].includes(d.kind)), (encoded, dev) => {
      const variant = encodeVariant(dagCbor.decode(encoded), dev)
      const r = decodeOrRefuse(() => decodeNode(NODE_CID, variant.bytes), CODES, 'decodeNode')
      if (r.ok) assertCanonical(variant.bytes, r.value)
      else assert.ok(variant.applied, 'the canonical encoding of a valid node was refused')
    }), {
      ...fuzzParams<[Uint8Array, Deviation]>(),
      examples: [[encodeFileNode([{ cid: NODE_CID, size: 1 }]), {
        kind: 'swapKeys',
        at: 0,
        alt: 0
      }], [encodeFileNode([{ cid: NODE_CID, size: 1 }]), { kind: 'float16', at: 2, alt: 0 }]]
    })
  })

  it('lists the links of any DAG-CBOR block or refuses it with InvalidNodeError (blockLinks checks cmesh nodes)', () => {
    fc.assert(fc.property(fc.oneof(
      arbitraryBytes,
      mutatedFrom(encodedNode).map(m => m.bytes),
      fc.tuple(encodedNode, deviationArb).map(([e, d]) => encodeVariant(dagCbor.decode(e), d).bytes)
    ), bytes => {
      const r = decodeOrRefuse(() => blockLinks(NODE_CID, bytes), CODES, 'blockLinks')
      if (r.ok) for (const link of r.value) assert.ok(CID.asCID(link) !== null, 'blockLinks returned something that is not a CID')
    }), fuzzParams())
  })

  it('accepts an entry name exactly when it is one non-empty path component (no /, \\ or NUL, not . or ..) of at most 255 UTF-8 bytes', () => {
    fc.assert(fc.property(fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: fc.constantFrom('a', '.', '/', '\\', '\0', 'é', '😀', ' ', ':'), maxLength: 140 }),
      fc.constantFrom(
        '',
        '.',
        '..',
        '...',
        '/',
        '\\',
        'a/b',
        'a\\b',
        '\0',
        'a\0',
        '/etc/passwd',
        'C:\\x',
        '..\\..\\x',
        'x'.repeat(255),
        'x'.repeat(256),
        'é'.repeat(128)
      )
    ), name => {
      const bad = checkEntryName(name)
      const safe = name.length > 0 && name !== '.' && name !== '..' && !/[/\\\0]/.test(name) && utf8.encode(name).length <= 255
      assert.equal(bad === undefined, safe, `checkEntryName(${JSON.stringify(name)}) = ${String(bad)}`)
      if (bad === undefined) {
        // created under a directory, it stays there as one component
        assert.equal(posix.dirname(posix.join('/base', name)), '/base')
        assert.equal(posix.basename(posix.join('/base', name)), name)
      }
    }), fuzzParams())
  })
})
