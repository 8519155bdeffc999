import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import {
  generatePublisherKey,
  loadPublisherKey,
  parsePublicKey,
  savePublisherKey,
  signPayload,
  verifyPayload,
  type PublisherKey
} from '../../../src/policy/trust/keys.js'
import { MAX_BUNDLE_BYTES, MAX_MANIFEST_BYTES } from '../../../src/policy/trust/constants.js'
import { encodeBundle, openBundle, openEnvelope, signManifest, thinBundle, type ReleaseManifest } from '../../../src/policy/trust/release-manifest.js'
import { TrustStore } from '../../../src/policy/trust/trust.js'
import { createStore } from '../../../src/store/index.js'
import type { Blockstore } from '../../../src/store/interface.js'
import { ReleaseIndex } from '../../../src/store/release-index.js'
import { Releases } from '../../../src/sync/releases/releases.js'
import { storeSource } from '../../../src/sync/fetch/store-source.js'
import { pseudoRandom, tempDir } from '../../helpers/temp.js'

const SMALL_CHUNKS = { minSize: 256, avgSize: 1024, maxSize: 4096 }

interface Side { repo: string, store: Blockstore, trust: TrustStore, index: ReleaseIndex, releases: Releases }

/** A repository with its release machinery; `from` is where its fetches get blocks (a publisher's store). */
function side (t: TestContext, from?: Blockstore): Side {
  const repo = join(tempDir(t), 'repo')
  const store = createStore({ repo })
  t.after(async () => await store.close())
  const trust = new TrustStore(repo)
  const index = new ReleaseIndex(repo)
  const releases = new Releases({ store, trust, index, peers: { sources: async () => from === undefined ? [] : [storeSource(from, 'publisher')] } })
  return { repo, store, trust, index, releases }
}

/** A small package tree whose content depends on `seed`. */
function tree (t: TestContext, seed: number, size = 60_000): string {
  const dir = join(tempDir(t), 'pkg')
  mkdirSync(join(dir, 'lib'), { recursive: true })
  writeFileSync(join(dir, 'README'), `package built from seed ${seed}\n`)
  writeFileSync(join(dir, 'lib', 'main.js'), pseudoRandom(size, seed))
  writeFileSync(join(dir, 'lib', 'shared.js'), pseudoRandom(size, 4242))
  return dir
}

/** Re-sign a release with changes to its manifest (what an attacker holding a key, or a careless publisher, can do). */
async function resign (bundle: Uint8Array, key: PublisherKey, change: (m: ReleaseManifest) => ReleaseManifest): Promise<Uint8Array> {
  const opened = await openBundle(bundle)
  const signed = await signManifest(change(opened.manifest), key)
  return encodeBundle(signed.bytes, opened.blocks)
}

/** Replace the envelope of a bundle with raw DAG-CBOR (to forge signatures). */
function withEnvelope (bundle: Uint8Array, edit: (env: {
  manifest: unknown,
  sig: {
    alg: string,
    key: string,
    value: Uint8Array
  } | null
}) => void): Uint8Array {
  const b = dagCbor.decode(bundle) as { release: Uint8Array, blocks: unknown[] }
  const env = dagCbor.decode(b.release) as { manifest: unknown, sig: { alg: string, key: string, value: Uint8Array } | null }
  edit(env)
  return dagCbor.encode({ release: dagCbor.encode(env), blocks: b.blocks })
}

/** Assert the client installed nothing: no release recorded, the root not pinned. */
function nothingInstalled (client: Side, name: string, root?: string): void {
  assert.equal(client.index.get(name), undefined)
  if (root !== undefined) assert.equal([...client.store.pins()].some(c => c.toString() === root), false)
}

describe('publisher keys', () => {
  it('signs and verifies with Ed25519 and ECDSA P-256, and refuses a signature over other bytes', async t => {
    for (const alg of ['ed25519', 'p256'] as const) {
      const key = generatePublisherKey(alg)
      assert.ok(key.publicKey.startsWith(`${alg}:`))
      const file = join(tempDir(t), 'key.pem')
      await savePublisherKey(key, file)
      const loaded = await loadPublisherKey(file)
      assert.equal(loaded.publicKey, key.publicKey)
      const sig = signPayload(loaded, new TextEncoder().encode('hello'))
      assert.equal(verifyPayload(key.publicKey, new TextEncoder().encode('hello'), sig), true)
      assert.equal(verifyPayload(key.publicKey, new TextEncoder().encode('hellO'), sig), false)
      await assert.rejects(savePublisherKey(key, file), { code: 'ERR_KEY' }) // never overwrites a key
    }
    assert.throws(() => parsePublicKey('rsa:AAAA'), { code: 'ERR_KEY' })
    assert.throws(() => parsePublicKey('ed25519:not-a-key'), { code: 'ERR_KEY' })
    // a P-256 key presented as Ed25519 is refused
    assert.throws(() => parsePublicKey(`ed25519:${generatePublisherKey('p256').publicKey.slice(5)}`), { code: 'ERR_KEY' })
  })

  it('keeps trusted keys per name in the repository', t => {
    const trust = new TrustStore(tempDir(t))
    const key = generatePublisherKey()
    assert.equal(trust.add('app', key.publicKey), key.publicKey)
    trust.add('app', key.publicKey)
    assert.deepEqual(trust.keys('app'), [key.publicKey])
    assert.deepEqual(trust.keys('other'), [])
    assert.deepEqual(trust.list(), [{ name: 'app', keys: [key.publicKey] }])
    assert.throws(() => trust.add('Bad Name', key.publicKey), { code: 'ERR_INVALID_MANIFEST' })
    assert.equal(trust.remove('app', key.publicKey), 1)
    assert.deepEqual(trust.keys('app'), [])
  })
})

describe('installing signed releases', () => {
  it('publishes, installs a trusted release, and updates from any earlier version fetching only what changed', async t => {
    const pub = side(t)
    const key = generatePublisherKey()
    const v1 = await pub.releases.publish(tree(t, 1), { name: 'app', version: '1.0.0', key, import: { chunker: SMALL_CHUNKS } })
    const client = side(t, pub.store)
    client.trust.add('app', key.publicKey)
    const first = await client.releases.update('app', { bundle: v1.bundle })
    assert.equal(first.version, '1.0.0')
    assert.equal(client.index.get('app')?.seq, 1)
    assert.ok(client.store.isPinned(v1.manifest.root))
    assert.ok(first.wireBytes >= first.size, 'a first install fetches everything')

    const v2 = await pub.releases.publish(tree(t, 2), { name: 'app', version: '2.0.0', key, import: { chunker: SMALL_CHUNKS } })
    const v3 = await pub.releases.publish(tree(t, 3), { name: 'app', version: '3.0.0', key, import: { chunker: SMALL_CHUNKS } })
    assert.equal(v3.manifest.seq, 3)
    assert.ok(v3.manifest.prev?.equals(v2.release))
    // 1.0.0 -> 3.0.0 directly: lib/shared.js is shared, only main.js and README cross
    const r = await client.releases.update('app', { bundle: v3.bundle })
    assert.equal(r.version, '3.0.0')
    assert.ok(r.wireBytes < r.size * 0.6, `fetched ${r.wireBytes} of ${r.size}`)
    assert.ok(client.store.isPinned(v3.manifest.root))
    assert.equal(client.store.isPinned(v1.manifest.root), false, 'the old version is unpinned')
    // offered the installed release again: up to date, nothing fetched
    const again = await client.releases.update('app', { bundle: v3.bundle })
    assert.equal(again.upToDate, true)
    assert.equal(again.wireBytes, 0)
    assert.equal(client.releases.installed().length, 1)
  })

  it('accepts releases signed with ECDSA P-256', async t => {
    const pub = side(t)
    const key = generatePublisherKey('p256')
    const v1 = await pub.releases.publish(tree(t, 5), { name: 'p256-app', version: '1.0.0', key })
    const client = side(t, pub.store)
    client.trust.add('p256-app', key.publicKey)
    assert.equal((await client.releases.update('p256-app', { bundle: v1.bundle })).seq, 1)
  })

  describe('refuses attacks and installs nothing', () => {
    async function setup (t: TestContext): Promise<{ pub: Side, client: Side, key: PublisherKey, v1: Awaited<ReturnType<Releases['publish']>> }> {
      const pub = side(t)
      const key = generatePublisherKey()
      const v1 = await pub.releases.publish(tree(t, 11), { name: 'app', version: '1.0.0', key, import: { chunker: SMALL_CHUNKS } })
      const client = side(t, pub.store)
      client.trust.add('app', key.publicKey)
      return { pub, client, key, v1 }
    }

    it('a bad signature', async t => {
      const { client, v1 } = await setup(t)
      const forged = withEnvelope(v1.bundle, env => { env.sig!.value[0] = env.sig!.value[0]! ^ 1 })
      await assert.rejects(client.releases.update('app', { bundle: forged }), { code: 'ERR_BAD_SIGNATURE' })
      // a manifest changed after signing (a bigger version claim) fails the same way
      const edited = withEnvelope(v1.bundle, env => { (env.manifest as { version: string }).version = '9.9.9' })
      await assert.rejects(client.releases.update('app', { bundle: edited }), { code: 'ERR_BAD_SIGNATURE' })
      nothingInstalled(client, 'app', v1.manifest.root.toString())
    })

    it('a missing signature', async t => {
      const { client, v1 } = await setup(t)
      const unsigned = withEnvelope(v1.bundle, env => { env.sig = null })
      await assert.rejects(client.releases.update('app', { bundle: unsigned }), { code: 'ERR_BAD_SIGNATURE' })
      nothingInstalled(client, 'app', v1.manifest.root.toString())
    })

    it('a key not trusted for the name', async t => {
      const { client, v1 } = await setup(t)
      const mallory = generatePublisherKey()
      const bundle = await resign(v1.bundle, mallory, m => m)
      await assert.rejects(client.releases.update('app', { bundle }), { code: 'ERR_UNTRUSTED_KEY' })
      // nor does a key trusted for another name sign this one
      client.trust.add('other', mallory.publicKey)
      await assert.rejects(client.releases.update('app', { bundle }), { code: 'ERR_UNTRUSTED_KEY' })
      nothingInstalled(client, 'app', v1.manifest.root.toString())
    })

    it('a rollback to a lower or equal sequence', async t => {
      const { pub, client, key, v1 } = await setup(t)
      const v2 = await pub.releases.publish(tree(t, 12), { name: 'app', version: '2.0.0', key, import: { chunker: SMALL_CHUNKS } })
      // the publisher is stopped from making one itself
      await assert.rejects(pub.releases.publish(tree(t, 12), { name: 'app', version: '2.0.1', seq: 2, key }), { code: 'ERR_ROLLBACK' })
      await client.releases.update('app', { bundle: v2.bundle })
      await assert.rejects(client.releases.update('app', { bundle: v1.bundle }), { code: 'ERR_ROLLBACK' })
      // the same sequence with other content is refused too
      const sameSeq = await resign(v1.bundle, key, m => ({ ...m, seq: 2, version: '2.0.1' }))
      await assert.rejects(client.releases.update('app', { bundle: sameSeq }), { code: 'ERR_ROLLBACK' })
      assert.equal(client.index.get('app')?.version, '2.0.0')
      assert.equal(client.store.isPinned(v1.manifest.root), false)
    })

    it('an expired manifest (freeze)', async t => {
      const { client, v1 } = await setup(t)
      await assert.rejects(client.releases.update('app', { bundle: v1.bundle, now: v1.manifest.expires + 1 }), { code: 'ERR_EXPIRED' })
      nothingInstalled(client, 'app', v1.manifest.root.toString())
    })

    it('a manifest larger than allowed (endless data)', async t => {
      const { client, key, v1 } = await setup(t)
      await assert.rejects(client.releases.update('app', { bundle: new Uint8Array(MAX_BUNDLE_BYTES + 1) }), { code: 'ERR_TOO_LARGE' })
      // an envelope stuffed past the manifest limit (many mirrors of long URLs would be refused as malformed first)
      const huge = withEnvelope(v1.bundle, env => { env.sig!.key = 'x'.repeat(MAX_MANIFEST_BYTES) })
      await assert.rejects(client.releases.update('app', { bundle: huge }), { code: 'ERR_TOO_LARGE' })
      // a bundle carrying more interior blocks than the whole DAG is declared to hold
      const small = await resign(v1.bundle, key, m => ({ ...m, dagBytes: 10 }))
      await assert.rejects(client.releases.update('app', { bundle: small }), { code: 'ERR_TOO_LARGE' })
      nothingInstalled(client, 'app', v1.manifest.root.toString())
    })

    it('a DAG larger than its declared size (endless data)', async t => {
      const { client, key, v1 } = await setup(t)
      const understated = await resign(v1.bundle, key, m => ({ ...m, dagBytes: m.dagBytes - 1 }))
      await assert.rejects(client.releases.update('app', { bundle: understated }), { code: 'ERR_DAG_TOO_LARGE' })
      const fewerBlocks = await resign(v1.bundle, key, m => ({ ...m, blocks: m.blocks - 1 }))
      await assert.rejects(client.releases.update('app', { bundle: fewerBlocks }), { code: 'ERR_DAG_TOO_LARGE' })
      nothingInstalled(client, 'app', v1.manifest.root.toString())
    })

    it('a manifest whose root, name or dependencies do not match what is fetched (mix-and-match)', async t => {
      const { pub, client, key, v1 } = await setup(t)
      // a signed manifest naming another DAG as its root, with the first one's sizes
      const other = await pub.releases.publish(tree(t, 13, 30_000), { name: 'app', version: '1.0.1', key, import: { chunker: SMALL_CHUNKS } })
      const swapped = await resign(other.bundle, key, m => ({ ...m, size: v1.manifest.size }))
      await assert.rejects(client.releases.update('app', { bundle: swapped }), { code: 'ERR_MIX_AND_MATCH' })
      // a release of another name offered for this one
      client.trust.add('lib', key.publicKey)
      const lib = await pub.releases.publish(tree(t, 14), { name: 'lib', version: '1.0.0', key })
      await assert.rejects(client.releases.update('app', { bundle: lib.bundle }), { code: 'ERR_MIX_AND_MATCH' })
      nothingInstalled(client, 'app', other.manifest.root.toString())

      // a dependency whose own release names a different root than the depending manifest does
      const libForged = await resign(lib.bundle, key, m => ({ ...m, root: v1.manifest.root }))
      const app = await pub.releases.publish(tree(t, 15), { name: 'app', version: '2.0.0', key, deps: ['lib@1.0.0'] })
      const offers = async (name: string): Promise<Array<{ peer: string, bundle: Uint8Array }>> =>
        name === 'lib' ? [{ peer: 'mallory', bundle: libForged }] : [{ peer: 'publisher', bundle: app.bundle }]
      const mixed = new Releases({
        store: client.store,
        trust: client.trust,
        index: client.index,
        bundles: { offers, ask: async () => undefined },
        peers: { sources: async () => [storeSource(pub.store, 'publisher')] }
      })
      await assert.rejects(mixed.update('app', { withDeps: true }), { code: 'ERR_MIX_AND_MATCH' })
      nothingInstalled(client, 'app', app.manifest.root.toString())
    })
  })

  it('fetches the dependency closure once, deduplicated', async t => {
    const pub = side(t)
    const key = generatePublisherKey()
    const base = await pub.releases.publish(tree(t, 21), { name: 'base', version: '1.0.0', key, import: { chunker: SMALL_CHUNKS } })
    const lib = await pub.releases.publish(tree(t, 22), { name: 'lib', version: '1.0.0', key, deps: ['base@1.0.0'], import: { chunker: SMALL_CHUNKS } })
    const app = await pub.releases.publish(tree(t, 23), {
      name: 'app',
      version: '1.0.0',
      key,
      deps: ['lib@1.0.0', 'base@1.0.0'],
      import: { chunker: SMALL_CHUNKS }
    })
    const client = side(t, pub.store)
    client.trust.add('app', key.publicKey)
    const bundles: Record<string, Uint8Array> = { base: base.bundle, lib: lib.bundle, app: app.bundle }
    const releases = new Releases({
      store: client.store,
      trust: client.trust,
      index: client.index,
      bundles: {
        offers: async name => bundles[name] === undefined ? [] : [{ peer: 'publisher', bundle: bundles[name] }],
        ask: async (_peer, name) => bundles[name]
      },
      peers: { sources: async () => [storeSource(pub.store, 'publisher')] }
    })
    const r = await releases.update('app', { withDeps: true })
    assert.deepEqual(r.deps.map(d => d.name).sort(), ['base', 'lib'])
    for (const root of [
      app.manifest.root,
      lib.manifest.root,
      base.manifest.root
    ]) assert.ok(client.store.isComplete(root) || client.store.isPinned(root), `${root} held`)
    // every package shares lib/shared.js: it crossed once, so the closure cost less than the three sizes
    const sizes = app.manifest.size + lib.manifest.size + base.manifest.size
    assert.ok(r.wireBytes < sizes, `${r.wireBytes} on the wire for ${sizes} of content`)
  })
})

describe('release bundles', () => {
  it('thin for a peer: the envelope alone, or without the interior of a release the asker holds', async t => {
    const pub = side(t)
    const key = generatePublisherKey()
    const v1 = await pub.releases.publish(tree(t, 41), { name: 'app', version: '1.0.0', key })
    const v2 = await pub.releases.publish(tree(t, 42), { name: 'app', version: '2.0.0', key })
    assert.deepEqual(pub.index.bundleOf(v1.release.toString()), Buffer.from(v1.bundle))
    assert.equal(pub.index.bundleOf('../etc'), undefined)
    const envelopeOnly = await openBundle(thinBundle(v2.bundle, { blocks: false }))
    assert.ok(envelopeOnly.cid.equals(v2.release))
    assert.equal(envelopeOnly.blocks.length, 0)
    const full = await openBundle(v2.bundle)
    const delta = await openBundle(thinBundle(v2.bundle, { blocks: true, held: pub.index.bundleOf(v1.release.toString()) }))
    assert.ok(delta.cid.equals(v2.release))
    // lib/shared.js is the same in both: its file node is left out
    assert.ok(delta.blocks.length > 0 && delta.blocks.length < full.blocks.length, `${delta.blocks.length} of ${full.blocks.length}`)
  })

  it('decode strictly and verify their interior blocks', async t => {
    const pub = side(t)
    const key = generatePublisherKey()
    const v1 = await pub.releases.publish(tree(t, 31), { name: 'app', version: '1.0.0', key })
    const opened = await openBundle(v1.bundle)
    assert.ok(opened.cid.equals(v1.release))
    assert.equal((await openEnvelope((dagCbor.decode(v1.bundle) as { release: Uint8Array }).release)).signer, key.publicKey)
    // an interior block whose bytes do not match its CID
    const b = dagCbor.decode(v1.bundle) as { release: Uint8Array, blocks: Array<[unknown, Uint8Array]> }
    b.blocks[0]![1] = Uint8Array.from(b.blocks[0]![1])
    b.blocks[0]![1][3] = b.blocks[0]![1][3]! ^ 1
    await assert.rejects(openBundle(dagCbor.encode(b)), { code: 'ERR_BLOCK_CORRUPT' })
    await assert.rejects(openBundle(dagCbor.encode({ release: new Uint8Array(3), blocks: [] })), { code: 'ERR_INVALID_MANIFEST' })
    await assert.rejects(openBundle(dagCbor.encode({
      release: (dagCbor.decode(v1.bundle) as { release: Uint8Array }).release,
      blocks: [],
      extra: 1
    })), { code: 'ERR_INVALID_MANIFEST' })
  })
})
