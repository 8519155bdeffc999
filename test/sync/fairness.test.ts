import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { CID } from 'multiformats/cid'
import { createNode, type CmeshNode, type NodeOptions } from '../../src/node/index.js'
import { readPolicy } from '../../src/policy/fairness/policy-file.js'
import type { GrantEvent } from '../../src/policy/fairness/upload-scheduler.js'
import { startApi } from '../../src/daemon/index.js'
import { runCli } from '../helpers/cli.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'
import { blockLinks } from '../../src/dag/links.js'
import { BLOCKS_PROTOCOL, MAX_MESSAGE_BYTES } from '../../src/sync/exchange/constants.js'
import { readFrames, sendFrame } from '../../src/sync/exchange/framing.js'
import { decodeMessage, encodeMessage } from '../../src/sync/exchange/wire.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Requesters listen on their own loopback addresses (all of 127.0.0.0/8 is this host) and the server dials them,
 * so the server sees each connection coming from that address and groups it by /24 as it would remote peers.
 */
async function node (t: TestContext, ip: string, init: NodeOptions = {}): Promise<CmeshNode> {
  const n = await createNode({ repo: join(tempDir(t), 'repo'), listen: [`/ip4/${ip}/tcp/0`], mdns: false, minPeers: 0, ...init })
  t.after(async () => await n.stop().catch(() => {})) // the ledger test stops its node itself first
  return n
}

/** `server` dials each requester and waits until the requester sees the connection too. */
async function connect (server: CmeshNode, peers: CmeshNode[]): Promise<void> {
  for (const p of peers) {
    await server.dial(p.addrs()[0]!)
    await waitFor(() => p.libp2p.getPeers().some(id => id.equals(server.peerId)), { what: 'the connection to the server' })
  }
}

async function content (t: TestContext, server: CmeshNode, bytes: number, seed: number): Promise<CID> {
  const file = join(tempDir(t), `f${seed}`)
  writeFileSync(file, pseudoRandom(bytes, seed))
  return (await server.add(file)).cid
}

/** Bytes the server sent to each peer, from its ledger. */
function sentBy (server: CmeshNode): Map<string, number> {
  return new Map(server.stats().map(r => [r.peer, r.sent]))
}

describe('fair upload between peers', () => {
  it('gives a Sybil with four identities behind one /24 no more than one honest peer gets', async t => {
    // a slow uplink, so the requesters wait on it (fairness is about who goes first when they do)
    const server = await node(t, '127.0.0.1', { uploadLimit: 1_000_000 })
    const cid = await content(t, server, 3_000_000, 1)
    const honest = [await node(t, '127.0.1.1'), await node(t, '127.0.2.1')]
    const sybil = await Promise.all([1, 2, 3, 4].map(async i => await node(t, `127.0.9.${i}`)))
    // only the server serves: requesters that trade among themselves (they want the same file) would need less
    // of it, in proportions that have nothing to do with its scheduler
    const requesters = [...honest, ...sybil]
    for (const a of requesters) for (const b of requesters) if (a !== b) a.blocks.banned.add(b.peerId.toString())
    // every grant of the server's scheduler with the groups waiting then: the test judges the grants given while all
    // three groups waited (who goes first when they all do), not bytes by some moment, which a requester short of
    // CPU (it verifies and stores what it got before it asks again) shifts whatever the scheduler does
    const grants: GrantEvent[] = []
    server.blocks.scheduler.onGrant = e => grants.push(e)
    await connect(server, requesters)
    const controller = new AbortController()
    const fetches = [...honest, ...sybil].map(async c => await c.fetch(cid, { signal: controller.signal }))
    await Promise.race(fetches.slice(0, 2))
    const groups = new Set(server.stats().map(r => r.group))
    const sybilGroup = 'ip4:127.0.9.0/24'
    assert.ok(groups.has(sybilGroup), `groups ${[...groups].join(', ')}`)
    const honestGroups = ['ip4:127.0.1.0/24', 'ip4:127.0.2.0/24']
    const contested = grants.filter(g => [sybilGroup, ...honestGroups].every(x => g.waitingGroups.includes(x)))
    const granted = (group: string): number => contested.filter(g => g.group === group).reduce((a, g) => a + g.maxBytes, 0)
    assert.ok(contested.length >= 6, `${contested.length} grants while all three groups waited`)
    const sybilBytes = granted(sybilGroup)
    const honestBytes = honestGroups.map(granted)
    // three groups share the upload: the Sybil's four identities together get about what one honest peer gets
    // (first come, first served would give them four times as much)
    assert.ok(sybilBytes < 1.5 * Math.max(...honestBytes), `Sybil ${sybilBytes} B, honest ${honestBytes.join(', ')} B granted while all waited`)
    controller.abort()
    await Promise.allSettled(fetches)
  })

  it('holds a peer weighted ten times over to the 25 % cap while others wait', async t => {
    const repo = join(tempDir(t), 'server')
    const peers = await Promise.all([1, 2, 3, 4, 5].map(async i => await node(t, `127.0.${10 + i}.1`)))
    const heavy = peers[0]!
    const server = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, uploadLimit: 2_000_000, minPeers: 0 })
    t.after(async () => await server.stop())
    writeFileSync(join(repo, 'policy.json'), JSON.stringify({ fairness: { maxShare: 0.25, weights: { [heavy.peerId.toString()]: 10 } }, analytics: { kept: true } }))
    server.blocks.setPolicy(readPolicy(repo))
    const cid = await content(t, server, 3_000_000, 2)
    for (const a of peers) for (const b of peers) if (a !== b) a.blocks.banned.add(b.peerId.toString()) // only the server serves
    await connect(server, peers)
    const controller = new AbortController()
    const fetches = peers.map(async p => await p.fetch(cid, { signal: controller.signal }))
    await Promise.race(fetches)
    const sent = sentBy(server)
    const total = [...sent.values()].reduce((a, b) => a + b, 0)
    const share = (sent.get(heavy.peerId.toString()) ?? 0) / total
    // by weight alone it would take 10/14 = 71 %
    assert.ok(share <= 0.3, `the heavy peer got ${(share * 100).toFixed(1)} % of the upload`)
    assert.ok(share >= 0.15, `the heavy peer got ${(share * 100).toFixed(1)} %: its weight counts up to the cap`)
    controller.abort()
    await Promise.allSettled(fetches)
  })

  it('answers requests for a critical notice before bulk downloads', async t => {
    const server = await node(t, '127.0.0.1', { uploadLimit: 1_000_000 })
    const bulk = await content(t, server, 10_000_000, 3)
    const notice = await content(t, server, 1_000_000, 4)
    writeFileSync(join(server.store.repo, 'policy.json'), JSON.stringify({ priorities: [{ name: 'critical', cids: [notice.toString()] }, { name: 'default' }] }))
    server.blocks.setPolicy(readPolicy(server.store.repo))
    // every grant the server's upload scheduler gives, in the order it gives them, with what waited meanwhile: the
    // test judges that order, not how many bytes went where in some time (which a machine short of CPU changes: it
    // packs the notice's messages slower than the link sends them, and the link's spare time rightly goes to bulk)
    const scheduler = server.blocks.scheduler
    const grants: GrantEvent[] = []
    scheduler.onGrant = e => grants.push(e)
    // the node's policy watcher reads the file again (within 10 s, at some point of the test): the same settings
    // keep the same scheduler, not a second one pacing beside it that would not see the first one's waiters
    server.blocks.setPolicy(readPolicy(server.store.repo))
    assert.equal(server.blocks.scheduler, scheduler)
    const bulkPeers = await Promise.all([1, 2, 3, 4].map(async i => await node(t, `127.0.${20 + i}.1`)))
    const reader = await node(t, '127.0.30.1')
    await connect(server, [...bulkPeers, reader])
    const controller = new AbortController()
    const downloads = bulkPeers.map(async p => await p.fetch(bulk, { signal: controller.signal }).catch(() => undefined))
    // once the bulk downloads are under way, the notice is asked for
    await waitFor(() => [...sentBy(server).values()].reduce((a, b) => a + b, 0) >= 1_000_000, { what: 'the server to send 1 MB' })
    await reader.fetch(notice)
    controller.abort()
    await Promise.all(downloads)
    assert.equal(server.blocks.scheduler, scheduler, 'one scheduler served throughout')
    const me = reader.peerId.toString()
    const noticeGrants = grants.filter(g => g.peer === me)
    const bulkGrants = grants.filter(g => g.peer !== me)
    assert.ok(noticeGrants.reduce((a, g) => a + g.maxBytes, 0) >= 1_000_000, `${noticeGrants.length} grants for the notice`)
    // the server put every request for the notice in the critical class, every bulk one in the default class
    assert.deepEqual(new Set(noticeGrants.map(g => g.priority)), new Set([0]))
    assert.deepEqual(new Set(bulkGrants.map(g => g.priority)), new Set([1]))
    // no bulk message was granted while a request for the notice waited for its turn
    const inversions = bulkGrants.filter(g => g.waiting[0]! > 0)
    assert.equal(inversions.length, 0, `${inversions.length} bulk grants went ahead of a waiting request for the notice`)
    // and the notice did go ahead of waiting bulk requests (the check above had something to judge)
    const ahead = noticeGrants.filter(g => g.waiting[1]! > 0).length
    assert.ok(ahead > 0, `no grant for the notice went ahead of a waiting bulk request (${noticeGrants.length} grants)`)
  })

  it('keeps a ledger: a peer that uploaded to us is unchoked and counts as seeding, and cmesh stats shows it', async t => {
    const a = await node(t, '127.0.0.1')
    const b = await node(t, '127.0.40.1')
    await connect(a, [b])
    const fromB = await content(t, b, 400_000, 5)
    const fromA = await content(t, a, 300_000, 6)
    await a.fetch(fromB) // b uploads to a
    await b.fetch(fromA) // then asks a for something
    const row = a.stats().find(r => r.peer === b.peerId.toString())!
    assert.ok(row.received >= 400_000, `received ${row.received}`)
    assert.ok(row.sent >= 300_000, `sent ${row.sent}`)
    assert.equal(row.choke, 'unchoked')
    assert.ok(row.seeding)
    assert.ok(row.weight > 1)
    assert.ok(row.ratio !== null && row.ratio < 1)
    const repo = a.store.repo
    // through the running node's API, as with a daemon: live rows
    const api = await startApi(a, repo)
    const live = await runCli(['stats', '--json', '--repo', repo])
    await api.close()
    assert.equal(live.code, 0, live.stderr)
    const liveRow = live.stdout.trim().split('\n').map(l => JSON.parse(l) as {
      peer: string,
      choke: string,
      live: boolean
    }).find(r => r.peer === b.peerId.toString())
    assert.equal(liveRow?.choke, 'unchoked')
    assert.equal(liveRow?.live, true)
    await a.stop()
    const out = await runCli(['stats', '--json', '--repo', repo])
    assert.equal(out.code, 0, out.stderr)
    const rows = out.stdout.trim().split('\n').map(l => JSON.parse(l) as { peer: string, received: number, live: boolean })
    assert.ok(rows.some(r => r.peer === b.peerId.toString() && r.received >= 400_000 && !r.live))
    writeFileSync(join(repo, 'policy.json'), '{"fairness": {"maxShare": 7}}')
    const bad = await runCli(['stats', '--repo', repo])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /ERR_POLICY_FILE/)
  })

  it('throttles and scores down a peer that floods requests, and honours cancels', async t => {
    const server = await node(t, '127.0.0.1', { uploadLimit: 200_000 })
    const root = await content(t, server, 400_000, 7)
    const leavesOf = (c: CID): CID[] => c.code === 0x55 ? [c] : blockLinks(c, server.store.getSync(c)).flatMap(leavesOf)
    const leaves = leavesOf(root)
    assert.ok(leaves.length > 40, `${leaves.length} leaves`)
    const client = await node(t, '127.0.50.1')
    await connect(server, [client])
    // a want for 40 blocks, cancelled at once: the server sends few of them (only what was on its way)
    const stream = await client.libp2p.dialProtocol(server.peerId, BLOCKS_PROTOCOL)
    const wanted = leaves.slice(0, 40)
    await sendFrame(stream, encodeMessage({ t: 'want', cids: wanted, blocks: true }))
    await sendFrame(stream, encodeMessage({ t: 'cancel', cids: wanted }))
    await stream.close()
    let blocks = 0
    for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
      const m = decodeMessage(frame)
      if (m.t === 'blocks') blocks += m.blocks.length
    }
    assert.ok(blocks < 40, `${blocks} of 40 cancelled blocks were sent`)
    // a flood: wants on 16 streams, two each, for the same blocks over and over
    const floods = await Promise.all(Array.from({ length: 16 }, async () => {
      const s = await client.libp2p.dialProtocol(server.peerId, BLOCKS_PROTOCOL)
      for (let i = 0; i < 2; i++) await sendFrame(s, encodeMessage({ t: 'want', cids: leaves.slice(0, 20), blocks: true }))
      return s
    }))
    const me = client.peerId.toString()
    await waitFor(() => (server.stats().find(r => r.peer === me)?.strikes ?? 0) > 0, { what: 'a strike' })
    const row = server.stats().find(r => r.peer === me)!
    assert.ok(row.throttled)
    assert.ok(row.score < 0)
    assert.ok(row.weight < 1)
    for (const s of floods) s.abort(new Error('done'))
  })
})
