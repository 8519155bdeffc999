import assert from 'node:assert/strict'
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { verifyStore } from '../../../src/dag/verify.js'
import { createNode, type CmeshNode, type NodeOptions } from '../../../src/node/index.js'
import { generatePublisherKey, type PublisherKey } from '../../../src/policy/trust/keys.js'
import { pseudoRandom, tempDir } from '../../helpers/temp.js'
import { serveDir } from '../../helpers/static-server.js'

const SMALL_CHUNKS = { minSize: 512, avgSize: 2048, maxSize: 8192 }

async function startNode (t: TestContext, options: NodeOptions = {}): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...options })
  t.after(async () => await node.stop().catch(() => {}))
  return node
}

/** A package tree: text that compresses and changes a little between versions, and a binary part. */
function release (t: TestContext, version: number): string {
  const dir = join(tempDir(t), `pkg-${version}`)
  mkdirSync(join(dir, 'lib'), { recursive: true })
  const lines: string[] = []
  for (let i = 0; i < 8000; i++) lines.push(`export function f${i} (x) { return x * ${i} + ${i === 4000 ? version : 0} } // line ${i}`)
  writeFileSync(join(dir, 'lib', 'index.js'), lines.join('\n'))
  writeFileSync(join(dir, 'lib', 'data.bin'), pseudoRandom(300_000, 7))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: `${version}.0.0` }))
  return dir
}

async function publish (
  node: CmeshNode,
  dir: string,
  version: number,
  key: PublisherKey,
  mirrors: string[] = []
): Promise<Awaited<ReturnType<CmeshNode['publish']>>> {
  return await node.publish(dir, { name: 'app', version: `${version}.0.0`, key, mirrors: mirrors.map(url => ({ url, type: 'files' as const })), import: { chunker: SMALL_CHUNKS } })
}

describe('releases over the network', () => {
  it('neighbours install a release from the publisher and update fetching only what changed, compressed', async t => {
    const key = generatePublisherKey()
    const maintainer = await startNode(t)
    const v1 = await publish(maintainer, release(t, 1), 1, key)
    const user = await startNode(t, { bootstrap: [maintainer.addrs()[0]!] })
    user.trust.add('app', key.publicKey)
    const first = await user.update('app')
    assert.equal(first.version, '1.0.0')
    assert.ok(first.sources[maintainer.peerId.toString()] !== undefined, 'fetched from the maintainer')
    assert.ok(user.store.isPinned(v1.manifest.root))
    assert.deepEqual(user.store.pinOwners(v1.manifest.root), ['release:app'])
    // a publish that fails (a dependency not installed here) leaves no pin behind
    const pins = [...maintainer.store.pins()].length
    await assert.rejects(maintainer.publish(release(t, 9), {
      name: 'app',
      version: '9.0.0',
      key,
      deps: ['lib@1.0.0'],
      import: { chunker: SMALL_CHUNKS }
    }), { code: 'ERR_INVALID_MANIFEST' })
    assert.equal([...maintainer.store.pins()].length, pins)

    const v2 = await publish(maintainer, release(t, 2), 2, key)
    const r = await user.update('app')
    assert.equal(r.version, '2.0.0')
    assert.equal(r.root, v2.manifest.root.toString())
    // one line of index.js changed: a few chunks and the nodes above them cross, compressed
    assert.ok(r.wireBytes < r.size * 0.05, `${r.wireBytes} bytes on the wire for a ${r.size} byte release`)
    const out = join(tempDir(t), 'out')
    await user.get(v2.manifest.root, out)
    assert.deepEqual(readFileSync(join(out, 'lib', 'index.js')), readFileSync(join(release(t, 2), 'lib', 'index.js')))
    // peers answer with the release they hold: a third node gets 2.0.0 from either
    const late = await startNode(t, { bootstrap: [user.addrs()[0]!] })
    late.trust.add('app', key.publicKey)
    assert.equal((await late.update('app')).version, '2.0.0')
  })

  it('an update from the installed release comes as block deltas: fewer bytes than the blocks, the same content', async t => {
    const key = generatePublisherKey()
    const maintainer = await startNode(t)
    await publish(maintainer, release(t, 1), 1, key)
    const user = await startNode(t, { bootstrap: [maintainer.addrs()[0]!] })
    const other = await startNode(t, { bootstrap: [maintainer.addrs()[0]!] })
    for (const n of [user, other]) {
      n.trust.add('app', key.publicKey)
      assert.equal((await n.update('app')).version, '1.0.0')
    }
    const v2 = await publish(maintainer, release(t, 2), 2, key)
    const r = await user.update('app')
    assert.equal(r.version, '2.0.0')
    // the same blocks without deltas (a fetch that names no held version), compressed as the block exchange sends them
    const plain = await other.fetch(v2.manifest.root, { pin: false })
    t.diagnostic(`${r.fetchedBytes} block bytes: ${r.wireBytes} wire bytes with deltas (bundle included), ${plain.wireBytes} without`)
    assert.equal(r.fetchedBytes, plain.fetchedBytes)
    assert.ok(r.wireBytes < plain.wireBytes, `update with deltas: ${r.wireBytes} wire bytes (bundle included); blocks only: ${plain.wireBytes}`)
    const out = join(tempDir(t), 'out')
    await user.get(v2.manifest.root, out)
    assert.deepEqual(readFileSync(join(out, 'lib', 'index.js')), readFileSync(join(release(t, 2), 'lib', 'index.js')))
    assert.ok((await verifyStore(user.store)).ok)
  })

  it('gets a release from a plain HTTP mirror when no peer is left, in few range requests', async t => {
    const key = generatePublisherKey()
    const maintainer = await startNode(t)
    const files = release(t, 1)
    const www = join(tempDir(t), 'www')
    cpSync(files, www, { recursive: true })
    const server = await serveDir(t, www)
    const v1 = await publish(maintainer, files, 1, key, [server.url])
    writeFileSync(join(www, 'app.cmesh'), v1.bundle)
    await maintainer.stop()

    const newcomer = await startNode(t)
    newcomer.trust.add('app', key.publicKey)
    const { readBundle } = await import('../../../src/sync/releases/releases.js')
    const bundle = await readBundle(`${server.url}/app.cmesh`)
    const r = await newcomer.update('app', { bundle })
    assert.equal(r.version, '1.0.0')
    assert.deepEqual(Object.keys(r.sources), [server.url])
    const ranged = server.requests.filter(q => q.range !== undefined)
    const chunks = v1.manifest.blocks
    assert.ok(ranged.length > 0 && ranged.length * 8 < chunks, `${ranged.length} range requests for ${chunks} blocks`)
    assert.equal((await verifyStore(newcomer.store)).corrupt.length, 0)
    const out = join(tempDir(t), 'out')
    await newcomer.get(v1.manifest.root, out)
    assert.deepEqual(readFileSync(join(out, 'lib', 'data.bin')), readFileSync(join(files, 'lib', 'data.bin')))
  })

  it('uses any node as a mirror through its trustless HTTP gateway', async t => {
    const key = generatePublisherKey()
    const maintainer = await startNode(t, { gateway: { port: 0 } })
    assert.ok(maintainer.gateway !== undefined)
    const v1 = await maintainer.publish(release(t, 5), {
      name: 'app',
      version: '5.0.0',
      key,
      mirrors: [{ url: maintainer.gateway.url, type: 'gateway' }],
      import: { chunker: SMALL_CHUNKS }
    })
    // not connected as a peer: the blocks can only come over HTTP
    const client = await startNode(t)
    client.trust.add('app', key.publicKey)
    const r = await client.update('app', { bundle: v1.bundle })
    assert.deepEqual(Object.keys(r.sources), [maintainer.gateway.url])
    assert.ok(maintainer.gateway.requests > 0)
    assert.equal((await verifyStore(client.store)).corrupt.length, 0)
  })

  it('falls back to the mirror when the peers stop mid-download, and fails listing the sources when all are gone', async t => {
    const key = generatePublisherKey()
    const files = release(t, 3)
    const www = join(tempDir(t), 'www')
    cpSync(files, www, { recursive: true })
    const server = await serveDir(t, www)
    // a slow peer: the download is still running when it is stopped
    const seeder = await startNode(t, { uploadLimit: 200_000 })
    const v = await publish(seeder, files, 3, key, [server.url])

    const user = await startNode(t, { bootstrap: [seeder.addrs()[0]!] })
    user.trust.add('app', key.publicKey)
    let stoppedAt = 0
    // the release comes from the seeder too: its envelope, then (for the file mirror) the DAG's interior
    const r = await user.update('app', {
      onProgress: e => {
        if (e.type === 'fetch:blocks' && e.source === seeder.peerId.toString() && stoppedAt === 0) {
          stoppedAt = performance.now()
          void seeder.stop()
        }
      }
    })
    assert.ok(stoppedAt > 0, 'the seeder served some blocks before it stopped')
    assert.ok((r.sources[server.url] ?? 0) > 0, `the mirror took over: ${JSON.stringify(r.sources)}`)
    assert.equal(r.root, v.manifest.root.toString())
    assert.ok(r.bundleBytes > 0 && r.bundleBytes < r.wireBytes, `bundles ${r.bundleBytes} of ${r.wireBytes} wire bytes`)

    // nobody left: the mirror is down too
    const v4files = release(t, 4)
    const other = await startNode(t)
    const v4 = await other.publish(v4files, { name: 'app', version: '4.0.0', seq: 4, key, mirrors: [{ url: `${server.url}/gone`, type: 'files' }], import: { chunker: SMALL_CHUNKS } })
    await other.stop()
    await assert.rejects(user.update('app', { bundle: v4.bundle }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_FETCH_FAILED')
      assert.match(err.message, /gone/)
      return true
    })
    assert.equal(user.releases.installed()[0]?.version, '3.0.0', 'the failed update installed nothing')
  })
})
