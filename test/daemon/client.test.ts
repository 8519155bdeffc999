import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { CID } from 'multiformats/cid'
import { openNodeClient, startApi, type NodeClient, type Progress } from '../../src/daemon/index.js'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { generatePublisherKey } from '../../src/policy/trust/keys.js'
import { TrustStore } from '../../src/policy/trust/trust.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

const LOOPBACK = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }
const SIZE = 3_000_000

/** A seeder holding a file and a signed release; a daemon (a node with its control API) and a bare repository, both trusting the release's key. */
async function setup (t: TestContext): Promise<{ seeder: CmeshNode, daemon: CmeshNode, cid: string, daemonRepo: string, ownRepo: string, seederAddr: string }> {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'f'), pseudoRandom(SIZE, 81))
  mkdirSync(join(dir, 'pkg'))
  writeFileSync(join(dir, 'pkg', 'a.bin'), pseudoRandom(400_000, 82))
  const seeder = await createNode({ repo: join(dir, 'seeder'), ...LOOPBACK, minPeers: 0 })
  t.after(async () => await seeder.stop())
  const { cid } = await seeder.add(join(dir, 'f'))
  const key = generatePublisherKey()
  await seeder.publish(join(dir, 'pkg'), { name: 'pkg', version: '1.0.0', key })
  const seederAddr = seeder.addrs()[0]!

  const daemonRepo = join(dir, 'daemon')
  const ownRepo = join(dir, 'own')
  mkdirSync(ownRepo)
  new TrustStore(daemonRepo).add('pkg', key.publicKey)
  new TrustStore(ownRepo).add('pkg', key.publicKey)
  const daemon = await createNode({ repo: daemonRepo, ...LOOPBACK, bootstrap: [seederAddr] })
  t.after(async () => await daemon.stop())
  const api = await startApi(daemon, daemonRepo)
  t.after(async () => await api.close())
  return { seeder, daemon, cid: cid.toString(), daemonRepo, ownRepo, seederAddr }
}

/** Progress reports as they come; checks each against the last (done never falls, never passes the total). */
function recorder (): { events: Progress[], onProgress: (p: Progress) => void } {
  const events: Progress[] = []
  return {
    events,
    onProgress: p => {
      const last = events.at(-1)
      if (last !== undefined) assert.ok(p.done >= last.done, `done fell from ${last.done} to ${p.done}`)
      if (p.total !== undefined) assert.ok(p.done <= p.total, `done ${p.done} past total ${p.total}`)
      events.push(p)
    }
  }
}

describe('node client: the daemon, else a node of our own', () => {
  it('gives the same results through the daemon and through a node of its own, with progress toward a real total', async t => {
    const { seeder, cid, daemonRepo, ownRepo, seederAddr } = await setup(t)
    const viaDaemon = await openNodeClient({ repo: daemonRepo })
    t.after(async () => await viaDaemon.close())
    const own = await openNodeClient({ repo: ownRepo, node: { ...LOOPBACK, bootstrap: [seederAddr] } })
    t.after(async () => await own.close())
    assert.equal(viaDaemon.via, 'daemon')
    assert.equal(own.via, 'own')
    const clients: Array<[string, NodeClient]> = [['daemon', viaDaemon], ['own', own]]

    const fetched = []
    for (const [name, client] of clients) {
      const progress = recorder()
      const report = await client.fetch(CID.parse(cid), { onProgress: progress.onProgress })
      assert.ok(progress.events.length >= 2, `${name}: progress as the blocks came, then the end (${progress.events.length} reports)`)
      assert.ok(progress.events.every(p => p.total !== undefined && p.total > 0), `${name}: every report has a total`)
      assert.deepEqual(progress.events.at(-1), { done: SIZE, total: SIZE }, `${name}: done reaches the file's size`)
      fetched.push(report)
    }
    const [a, b] = fetched
    assert.equal(a!.cid, cid)
    assert.equal(b!.cid, cid)
    assert.equal(a!.bytes, b!.bytes, 'the same bytes fetched')
    assert.ok(a!.bytes >= SIZE)
    assert.deepEqual(Object.keys(a!.sources), [seeder.peerId.toString()], 'the daemon had one peer to fetch from')
    // the own node may also have met the daemon's node through peer exchange, which holds the file by now
    for (const r of [a!, b!]) assert.equal(Object.values(r.sources).reduce((x, y) => x + y, 0), r.bytes)

    const updates = []
    for (const [name, client] of clients) {
      const progress = recorder()
      const r = await client.update('pkg', { onProgress: progress.onProgress })
      assert.equal(r.upToDate, false, name)
      const last = progress.events.at(-1)!
      assert.ok(last.total !== undefined && last.total >= r.size && r.size > 0, `${name}: the total is the release's size at least`)
      assert.equal(last.done, last.total, `${name}: done reaches the total`)
      updates.push(r)
    }
    const [x, y] = updates.map(u => ({ name: u.name, version: u.version, seq: u.seq, release: u.release, root: u.root, size: u.size }))
    assert.deepEqual(x, y, 'the same release installed')
    const again = await Promise.all(clients.map(async ([, c]) => (await c.update('pkg')).upToDate))
    assert.deepEqual(again, [true, true])

    for (const [name, client] of clients) {
      const peers = await client.peers()
      assert.ok(peers.some(p => p.peerId === seeder.peerId.toString()), `${name}: the seeder is a peer`)
      assert.deepEqual(await client.collection({ op: 'list' }), [], name)
      await assert.rejects(client.collection({ op: 'browse', collection: 'nowhere', query: {} }), { code: 'ERR_COLLECTION_NOT_FOUND' }, name)
    }
    const stats = await viaDaemon.stats()
    assert.equal(stats.live, true)
    assert.ok(stats.rows.some(r => r.peer === seeder.peerId.toString() && r.received > 0), 'the daemon counted what the seeder sent')
    assert.equal((await own.stats()).live, false)
  })

  it('keeps the stable error codes of a failed fetch, streamed or not, and starts no node for stats', async t => {
    const { daemonRepo, ownRepo, seederAddr } = await setup(t)
    const nobody = CID.parse('bafkr4ibc7z4xu3k4zqmqhsy6yyenhbnz3wfxkr5k2r4rcfzaxbxcsemdoy')
    const viaDaemon = await openNodeClient({ repo: daemonRepo })
    const own = await openNodeClient({ repo: ownRepo, node: { ...LOOPBACK, bootstrap: [seederAddr] } })
    t.after(async () => await own.close())
    for (const client of [viaDaemon, own]) {
      await assert.rejects(client.fetch(nobody, { onProgress: () => {} }), { code: 'ERR_FETCH_FAILED' }, client.via)
      await assert.rejects(client.fetch(nobody), { code: 'ERR_FETCH_FAILED' }, client.via)
    }
    // stats of a repository without a daemon read its ledger file: no node is started (a started one would hold the LMDB lock)
    const bare = await openNodeClient({ repo: join(tempDir(t), 'bare') })
    assert.deepEqual(await bare.stats(), { live: false, rows: [] })
    await bare.close()
  })
})
