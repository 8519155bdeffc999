import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { cidOf } from '../../src/dag/cid.js'
import { getHasher, type BlockHasher } from '../../src/dag/hashing.js'
import { generatePublisherKey } from '../../src/policy/trust/keys.js'
import { MAX_MANIFEST_BYTES } from '../../src/policy/trust/constants.js'
import { encodeBundle, openBundle, openEnvelope, signManifest, type ReleaseManifest } from '../../src/policy/trust/release-manifest.js'
import { deviationArb, encodeVariant, type Deviation } from './cbor-variants.js'
import { arbitraryBytes, assertSameBytes, cidArb, decodeOrRefuseAsync, mutate, mutationArb, plain } from './helpers.js'
import { fuzzParams } from './settings.js'

/** How an envelope or bundle is refused: malformed, oversized, unsigned or badly signed, a block not matching its CID. */
const CODES = ['ERR_INVALID_MANIFEST', 'ERR_TOO_LARGE', 'ERR_BAD_SIGNATURE', 'ERR_BLOCK_CORRUPT', 'ERR_UNSUPPORTED_HASH']

const keys = [generatePublisherKey('ed25519'), generatePublisherKey('p256')]
const hashers: Record<'blake3' | 'sha2-256', BlockHasher> = {} as Record<'blake3' | 'sha2-256', BlockHasher>
before(async () => {
  hashers.blake3 = await getHasher('blake3')
  hashers['sha2-256'] = await getHasher('sha2-256')
})

const nameArb = fc.stringMatching(/^[a-z0-9@][a-z0-9._@/+-]{0,30}$/)
const versionArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,20}$/)

const manifestArb: fc.Arbitrary<{ m: ReleaseManifest, key: number, interior: Uint8Array[] }> = fc.record({
  key: fc.nat({ max: keys.length - 1 }),
  name: nameArb,
  version: versionArb,
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  root: cidArb,
  size: fc.integer({ min: 0, max: 2 ** 50 }),
  extraBytes: fc.integer({ min: 0, max: 2 ** 40 }),
  extraBlocks: fc.integer({ min: 0, max: 1000 }),
  hash: fc.constantFrom('blake3' as const, 'sha2-256' as const),
  prev: fc.option(cidArb, { nil: null }),
  mirrors: fc.array(fc.record({ url: fc.webUrl({ validSchemes: ['http', 'https'] }).filter(u => u.length <= 200), type: fc.constantFrom('files' as const, 'gateway' as const) }), { maxLength: 3 }),
  deps: fc.array(fc.record({ name: nameArb, version: versionArb, root: cidArb }), { maxLength: 3 }),
  created: fc.integer({ min: 0, max: 2 ** 45 }),
  ttl: fc.integer({ min: 1, max: 2 ** 40 }),
  interior: fc.array(fc.uint8Array({ maxLength: 64 }).map(b => dagCbor.encode({ type: 'blob', b })), { maxLength: 3 })
}).map(r => {
  const interiorBytes = r.interior.reduce((s, b) => s + b.length, 0)
  const m: ReleaseManifest = {
    name: r.name,
    version: r.version,
    seq: r.seq,
    root: r.root,
    size: r.size,
    dagBytes: interiorBytes + r.extraBytes,
    blocks: r.interior.length + r.extraBlocks,
    hash: r.hash,
    prev: r.prev,
    mirrors: r.mirrors,
    deps: r.deps,
    created: r.created,
    expires: r.created + r.ttl
  }
  return { m, key: r.key, interior: r.interior }
})

/** A small release, for examples every run tries. */
const EXAMPLE = {
  key: 0,
  interior: [] as Uint8Array[],
  m: {
    name: 'x',
    version: '1',
    seq: 1,
    root: CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'),
    size: 1,
    dagBytes: 1,
    blocks: 1,
    hash: 'blake3',
    prev: null,
    mirrors: [],
    deps: [],
    created: 0,
    expires: 1
  } satisfies ReleaseManifest as ReleaseManifest
}

async function signed (x: { m: ReleaseManifest, key: number }): Promise<{ cid: CID, bytes: Uint8Array }> {
  return await signManifest(x.m, keys[x.key]!)
}

/** The one encoding of an opened envelope: its manifest and the signature by the key it was opened with. */
function envelopeOf (manifest: ReleaseManifest, signer: string, sigValue: unknown): Uint8Array {
  const m = manifest
  return dagCbor.encode({
    manifest: {
      name: m.name,
      version: m.version,
      seq: m.seq,
      root: m.root,
      size: m.size,
      dagBytes: m.dagBytes,
      blocks: m.blocks,
      hash: m.hash,
      prev: m.prev,
      mirrors: m.mirrors.map(x => ({ url: x.url, type: x.type })),
      deps: m.deps.map(d => ({ name: d.name, version: d.version, root: d.root })),
      created: m.created,
      expires: m.expires
    },
    sig: { alg: signer.slice(0, signer.indexOf(':')), key: signer, value: sigValue }
  })
}

function assertCanonical (bytes: Uint8Array, opened: { cid: CID, manifest: ReleaseManifest, signer: string }): void {
  const sigValue = (dagCbor.decode(bytes) as { sig: { value: unknown } }).sig.value
  assertSameBytes(
    envelopeOf(opened.manifest, opened.signer, sigValue),
    bytes,
    'openEnvelope accepted a signed envelope that is not the one encoding of its manifest (a release gets another CID, its identity, with the same valid signature)'
  )
  assert.equal(opened.cid.toString(), cidOf(hashers[opened.manifest.hash], 0x71, bytes).toString())
}

describe('fuzz: release manifests (src/policy/trust/release-manifest.ts openEnvelope, openBundle)', () => {
  it('opens every signed envelope to the manifest that was signed, under the CID signManifest gave', async () => {
    await fc.assert(fc.asyncProperty(manifestArb, async x => {
      const s = await signed(x)
      assert.ok(s.bytes.length <= MAX_MANIFEST_BYTES)
      const opened = await openEnvelope(s.bytes)
      assert.deepStrictEqual(plain(opened.manifest), plain(x.m))
      assert.equal(opened.cid.toString(), s.cid.toString())
      assert.equal(opened.signer, keys[x.key]!.publicKey)
    }), fuzzParams(0.3))
  })

  it('opens every bundle to its envelope and interior blocks, each verified', async () => {
    await fc.assert(fc.asyncProperty(manifestArb, async x => {
      const s = await signed(x)
      const blocks = x.interior.map(bytes => ({ cid: cidOf(hashers[x.m.hash], 0x71, bytes), bytes }))
      const opened = await openBundle(encodeBundle(s.bytes, blocks))
      assert.deepStrictEqual(plain(opened.blocks), plain(blocks))
      assert.equal(opened.cid.toString(), s.cid.toString())
    }), fuzzParams(0.3))
  })

  it('refuses arbitrary bytes as an envelope or a bundle with a typed error', async () => {
    await fc.assert(fc.asyncProperty(arbitraryBytes, async bytes => {
      const e = await decodeOrRefuseAsync(async () => await openEnvelope(bytes), CODES, 'openEnvelope')
      if (e.ok) assertCanonical(bytes, e.value)
      await decodeOrRefuseAsync(async () => await openBundle(bytes), CODES, 'openBundle')
    }), fuzzParams())
  })

  it('refuses a signed envelope or bundle with bytes flipped, inserted or deleted with a typed error', async () => {
    await fc.assert(fc.asyncProperty(manifestArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), async (x, mutations) => {
      const s = await signed(x)
      const blocks = x.interior.map(bytes => ({ cid: cidOf(hashers[x.m.hash], 0x71, bytes), bytes }))
      for (const whole of [s.bytes, encodeBundle(s.bytes, blocks)]) {
        const bytes = mutate(whole, mutations)
        const e = await decodeOrRefuseAsync(async () => await openEnvelope(bytes), CODES, 'openEnvelope')
        if (e.ok) assertCanonical(bytes, e.value)
        await decodeOrRefuseAsync(async () => await openBundle(bytes), CODES, 'openBundle')
      }
    }), fuzzParams(0.3))
  })

  // Found by this suite, now fixed (src/policy/trust/release-manifest.ts openEnvelope): the signature is checked over a re-encoding
  // of the decoded manifest, while the release's CID (its identity) is the hash of the bytes received; and
  // @ipld/dag-cbor accepts integers written as floats, map keys out of order and invalid UTF-8, `sig.alg` is compared
  // through String() (['ed25519'] passes), and `sig.key` is normalised before use (other texts of the same key
  // pass). Anyone can mint other CIDs for a signed release. It failed until openEnvelope refuses bytes that are not the
  // encoding of what it decoded, with sig.alg and sig.key exactly as the signer writes them.
  it('refuses every other encoding or mis-typed field of a signed envelope: a release has one CID', async () => {
    await fc.assert(fc.asyncProperty(manifestArb, deviationArb, async (x, dev) => {
      const s = await signed(x)
      const variant = encodeVariant(dagCbor.decode(s.bytes), dev)
      const r = await decodeOrRefuseAsync(async () => await openEnvelope(variant.bytes), CODES, 'openEnvelope')
      if (r.ok) assertCanonical(variant.bytes, r.value)
      else assert.ok(variant.applied, 'the canonical encoding of a signed envelope was refused')
    }), {
      ...fuzzParams<[typeof EXAMPLE, Deviation]>(0.5),
      examples: [[EXAMPLE, {
        kind: 'swapKeys',
        at: 0,
        alt: 0
      }], [EXAMPLE, { kind: 'wrap', at: 4, alt: 0 }]]
    })
  })

  it('refuses a bundle carrying more bytes or blocks than its manifest declares, or a block that is not interior, with a typed error', async () => {
    await fc.assert(fc.asyncProperty(manifestArb, fc.uint8Array({ maxLength: 64 }), fc.constantFrom('raw', 'more'), async (x, extra, how) => {
      const tight = { ...x, m: { ...x.m, dagBytes: x.interior.reduce((s, b) => s + b.length, 0), blocks: x.interior.length } }
      const s = await signed(tight)
      const h = hashers[x.m.hash]
      const blocks = x.interior.map(bytes => ({ cid: cidOf(h, 0x71, bytes), bytes }))
      const added = how === 'raw' ? { cid: cidOf(h, 0x55, extra), bytes: extra } : { cid: cidOf(h, 0x71, dagCbor.encode(extra)), bytes: dagCbor.encode(extra) }
      const r = await decodeOrRefuseAsync(async () => await openBundle(encodeBundle(s.bytes, [...blocks, added])), CODES, 'openBundle')
      assert.equal(r.ok, false, 'a bundle with a block beyond its manifest was accepted')
    }), fuzzParams(0.3))
  })
})
