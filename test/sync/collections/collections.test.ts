import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { encodeUnsigned, signAnnouncement, type Announcement } from '../../../src/policy/collections/announcement.js'
import { collectionTopic, parseGovernance } from '../../../src/policy/collections/governance.js'
import { generatePublisherKey, type PublisherKey } from '../../../src/policy/trust/keys.js'
import { parseCid } from '../../../src/dag/cid.js'
import type { CollectionEvent } from '../../../src/sync/collections/collections.js'
import { collect, pseudoRandom, tempDir } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

const HOUR = 3600_000

interface Doc { publishers: string[] | 'members', members?: string[], moderators?: string[], maxAnnouncementsPerHour?: number, maxResourceBytes?: number }

function governance (d: Doc): Record<string, unknown> {
  return {
    name: 'riverside',
    publishers: d.publishers,
    ...(d.members !== undefined ? { members: d.members } : {}),
    moderators: d.moderators ?? [],
    quotas: { maxResourceBytes: d.maxResourceBytes ?? 10_000_000, maxAnnouncementsPerHour: d.maxAnnouncementsPerHour ?? 100, maxBytesPerDay: 100_000_000 },
    retentionDays: 30
  }
}

/** A node on loopback without peer exchange, so the tests decide who is connected to whom. */
async function startNode (t: TestContext, doc: Record<string, unknown> | undefined, budget?: number): Promise<CmeshNode> {
  const node = await createNode({
    repo: join(tempDir(t), 'repo'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    minPeers: 0,
    collections: { antiEntropyIntervalMs: 60_000, retryMs: 500 }
  })
  t.after(async () => await node.stop().catch(() => {}))
  await node.pex?.stop()
  if (doc !== undefined) await node.collections.join(doc, { budget })
  return node
}

async function connect (a: CmeshNode, b: CmeshNode): Promise<void> {
  await a.dial(b.addrs()[0]!)
}

/** Every node has `n` peers in its gossip mesh for the collection (so gossip reaches them). */
async function meshed (nodes: Array<[CmeshNode, number]>): Promise<void> {
  await waitFor(() => nodes.every(([node, n]) => node.collections.list()[0]!.peers >= n && meshPeers(node) >= n), { what: 'gossip meshes' })
}

function meshPeers (node: CmeshNode): number {
  const ps = node.libp2p.services as { pubsub: { getMeshPeers: (topic: string) => string[] } }
  return ps.pubsub.getMeshPeers(node.collections.list()[0]!.topic).length
}

function file (t: TestContext, name: string, bytes: Uint8Array | string): string {
  const dir = tempDir(t)
  mkdirSync(dir, { recursive: true })
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}

function events (node: CmeshNode): CollectionEvent[] {
  const out: CollectionEvent[] = []
  node.collections.on(e => out.push(e))
  return out
}

function synced (node: CmeshNode, id: string): boolean {
  return node.collections.browse('riverside').some(e => e.id === id && e.status === 'synced')
}

/** A validly signed share, for publishing raw the way a misbehaving node would. */
function share (doc: Record<string, unknown>, key: PublisherKey, over: Partial<Announcement> = {}): Uint8Array {
  const now = Date.now()
  return signAnnouncement({
    collection: collectionTopic(parseGovernance(doc)),
    publisher: key.publicKey,
    seq: 1,
    id: 'x',
    kind: 'share',
    resource: {
      root: parseCid('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'),
      size: 10,
      title: 'x',
      purpose: 'other',
      tags: [],
      lang: null,
      license: null
    },
    target: null,
    created: now,
    expires: now + HOUR,
    ...over
  }, key).bytes
}

function pubsub (node: CmeshNode): { publish: (topic: string, data: Uint8Array) => Promise<unknown> } {
  return (node.libp2p.services as { pubsub: { publish: (topic: string, data: Uint8Array) => Promise<unknown> } }).pubsub
}

describe('governance documents', () => {
  it('are checked strictly and hashed into the topic', () => {
    const key = generatePublisherKey()
    const g = parseGovernance(governance({ publishers: [key.publicKey] }))
    assert.match(collectionTopic(g), /^\/cmesh\/collection\/1\/riverside\/[0-9a-f]{16}$/)
    assert.notEqual(collectionTopic(g), collectionTopic(parseGovernance(governance({ publishers: [key.publicKey], maxAnnouncementsPerHour: 5 }))))
    for (const broken of [
      { ...governance({ publishers: [key.publicKey] }), name: 'Bad Name' },
      { ...governance({ publishers: ['ed25519:nope'] }) },
      { ...governance({ publishers: 'members' }) },
      { ...governance({ publishers: [] }), extra: 1 },
      { ...governance({ publishers: [] }), quotas: { maxResourceBytes: 0, maxAnnouncementsPerHour: 1, maxBytesPerDay: 1 } }
    ]) assert.throws(() => parseGovernance(broken), { code: 'ERR_GOVERNANCE' })
  })
})

describe('collections over the network', () => {
  it('shares, browses, updates and retracts (by publisher and moderator) across a line of three nodes', async t => {
    const leader = generatePublisherKey()
    const teacher = generatePublisherKey('p256')
    const moderator = generatePublisherKey()
    const doc = governance({ publishers: [leader.publicKey, teacher.publicKey], moderators: [moderator.publicKey] })
    const [a, b, c] = [await startNode(t, doc), await startNode(t, doc), await startNode(t, doc)]
    await connect(a, b)
    await connect(b, c)
    await meshed([[a, 1], [b, 2], [c, 1]])

    const notice = file(t, 'water-cut.txt', 'Water is off on Tuesday 9-12.\n')
    const r1 = await a.collections.share(notice, {
      collection: 'riverside',
      key: leader,
      title: 'Water cut Tuesday',
      purpose: 'notice',
      tags: ['water', 'urgent'],
      lang: 'en'
    })
    assert.equal(r1.id, 'water-cut.txt')
    assert.equal(r1.seq, 1)
    await waitFor(() => synced(c, 'water-cut.txt') && synced(b, 'water-cut.txt'), { what: 'the notice on c' })
    assert.deepEqual(await collect(c.cat(parseCid(r1.root!))), Buffer.from('Water is off on Tuesday 9-12.\n'))
    assert.ok(c.store.isPinned(parseCid(r1.root!)))

    const lesson = file(t, 'fractions.bin', pseudoRandom(50_000, 3))
    await b.collections.share(lesson, {
      collection: 'riverside',
      key: teacher,
      id: 'fractions',
      title: 'Fractions, lesson 1',
      purpose: 'education',
      tags: ['maths']
    })
    await waitFor(() => synced(a, 'fractions') && synced(c, 'fractions'), { what: 'the lesson on a and c' })
    assert.deepEqual(c.collections.browse('riverside', { tag: ['maths'] }).map(e => e.id), ['fractions'])
    assert.deepEqual(c.collections.browse('riverside', { purpose: 'notice' }).map(e => e.title), ['Water cut Tuesday'])
    assert.deepEqual(c.collections.browse('riverside', { text: 'TUESDAY water' }).map(e => e.id), ['water-cut.txt'])
    assert.deepEqual(c.collections.browse('riverside').map(e => e.purpose), ['notice', 'education'], 'notices first')
    assert.equal(c.collections.browse('riverside', { publisher: teacher.publicKey }).length, 1)

    // an update supersedes by seq, and the old version is unpinned everywhere
    const r2 = await a.collections.share(file(t, 'water-cut.txt', 'Water is off on Tuesday 9-14.\n'), {
      collection: 'riverside',
      key: leader,
      title: 'Water cut Tuesday (longer)',
      purpose: 'notice',
      tags: ['water']
    })
    assert.equal(r2.seq, 2)
    await waitFor(() => c.collections.browse('riverside', { purpose: 'notice' })[0]?.seq === 2 && synced(c, 'water-cut.txt'), { what: 'the update on c' })
    await waitFor(() => !c.store.isPinned(parseCid(r1.root!)) && !b.store.isPinned(parseCid(r1.root!)), { what: 'the old version unpinned' })
    assert.equal(c.collections.browse('riverside', { purpose: 'notice' }).length, 1)

    // retraction by the publisher; a member who pinned the notice for themselves keeps it
    await waitFor(() => b.store.isPinned(parseCid(r2.root!), 'collections'), { what: 'the update pinned for the collections on b' })
    await b.store.pin(parseCid(r2.root!))
    await a.collections.retract({ collection: 'riverside', key: leader, id: 'water-cut.txt' })
    await waitFor(() => c.collections.browse('riverside', { purpose: 'notice' }).length === 0, { what: 'the notice gone on c' })
    await waitFor(() => [a, c].every(n => !n.store.isPinned(parseCid(r2.root!))) && !b.store.isPinned(parseCid(r2.root!), 'collections'), { what: 'the notice unpinned everywhere' })
    assert.deepEqual(b.store.pinOwners(parseCid(r2.root!)), ['user'], 'the retraction drops the collections\' pin, not the member\'s own')

    // retraction by a moderator, from the far end of the line
    const lessonRoot = parseCid(c.collections.browse('riverside')[0]!.root)
    await c.collections.retract({ collection: 'riverside', key: moderator, publisher: teacher.publicKey, id: 'fractions' })
    await waitFor(() => [
      a,
      b,
      c
    ].every(n => n.collections.browse('riverside').length === 0 && !n.store.isPinned(lessonRoot)), { what: 'the lesson gone everywhere' })
    // only moderators retract others' resources
    await a.collections.share(lesson, { collection: 'riverside', key: teacher, id: 'fractions-2', title: 'Fractions again', purpose: 'education' })
    await assert.rejects(a.collections.retract({
      collection: 'riverside',
      key: leader,
      publisher: teacher.publicKey,
      id: 'fractions-2'
    }), { code: 'ERR_UNAUTHORIZED' })
    await assert.rejects(a.collections.retract({ collection: 'riverside', key: leader, id: 'nothing' }), { code: 'ERR_RESOURCE_NOT_FOUND' })
    assert.deepEqual(b.collections.stats('riverside').rejected, {})
    assert.equal(a.collections.list()[0]!.resources, 1)
  })

  it('refuses unsigned, unauthorized, oversized, expired, replayed and malformed announcements before relaying them, and scores the sender down', async t => {
    const leader = generatePublisherKey()
    const stranger = generatePublisherKey()
    const doc = governance({ publishers: [leader.publicKey], maxResourceBytes: 1000 })
    const topic = collectionTopic(parseGovernance(doc))
    const [attacker, b, c, member] = [await startNode(t, doc), await startNode(t, doc), await startNode(t, doc), await startNode(t, doc)]
    await connect(attacker, b)
    await connect(b, c)
    await connect(member, b)
    await meshed([[attacker, 1], [b, 3], [c, 1], [member, 1]])
    const seenByC = events(c)
    const now = Date.now()
    const { encode } = await import('@ipld/dag-cbor')
    const base: Announcement = {
      collection: topic,
      publisher: leader.publicKey,
      seq: 1,
      id: 'x',
      kind: 'share',
      resource: {
        root: parseCid('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'),
        size: 10,
        title: 'x',
        purpose: 'other',
        tags: [],
        lang: null,
        license: null
      },
      target: null,
      created: now,
      expires: now + HOUR
    }
    const attempts: Array<[string, Uint8Array]> = [
      ['ERR_BAD_SIGNATURE', encodeUnsigned(base)],
      ['ERR_UNAUTHORIZED', share(doc, stranger, { id: 'spam' })],
      ['ERR_TOO_LARGE', share(doc, leader, { id: 'big', resource: { ...base.resource!, size: 5000 } })],
      ['ERR_TOO_LARGE', new Uint8Array(16 * 1024 + 100)],
      ['ERR_ANNOUNCEMENT_EXPIRED', share(doc, leader, { id: 'old', created: now - 2 * HOUR, expires: now - HOUR })],
      ['ERR_INVALID_ANNOUNCEMENT', encode({ announcement: { hello: 'world' }, sig: null })],
      ['ERR_INVALID_ANNOUNCEMENT', new Uint8Array([0xff, 0x00, 0x01])]
    ]
    for (const [code, bytes] of attempts) {
      const before = b.collections.stats('riverside').rejected[code] ?? 0
      await pubsub(attacker).publish(topic, bytes)
      await waitFor(() => (b.collections.stats('riverside').rejected[code] ?? 0) > before, { what: `b rejecting with ${code}` })
    }
    // a replay: seq 2 of a resource, then its seq 1 again
    await pubsub(attacker).publish(topic, share(doc, leader, { id: 'r', seq: 2 }))
    await waitFor(() => c.collections.browse('riverside').some(e => e.id === 'r'), { what: 'seq 2 on c' })
    await pubsub(attacker).publish(topic, share(doc, leader, { id: 'r', seq: 1, created: now + 1 }))
    await waitFor(() => (b.collections.stats('riverside').rejected.ERR_REPLAY ?? 0) === 1, { what: 'b rejecting the replay' })
    // a valid announcement after them all reaches c through b, so the invalid ones would have if b had relayed them;
    // it comes from another node, since b may by now have graylisted the attacker (its score is judged below)
    await pubsub(member).publish(topic, share(doc, leader, { id: 'last' }))
    await waitFor(() => c.collections.browse('riverside').some(e => e.id === 'last'), { what: 'the last one on c' })
    assert.deepEqual(c.collections.stats('riverside').rejected, {}, 'b relayed nothing invalid')
    assert.deepEqual(seenByC.filter(e => e.type === 'accepted').map(e => e.type === 'accepted' ? e.announcement.id : ''), ['r', 'last'])
    assert.deepEqual(b.collections.browse('riverside').map(e => e.id).sort(), ['last', 'r'])
    assert.equal(b.collections.browse('riverside').find(e => e.id === 'r')!.seq, 2)
    await waitFor(() => (b.collections.peerScore(attacker.peerId.toString()) ?? 0) < 0, { what: "the attacker's score at b going negative" })
    const relayScore = c.collections.peerScore(b.peerId.toString())
    assert.equal(typeof relayScore, 'number', 'gossipsub scores the relay')
    assert.ok(relayScore! >= 0, `the honest relay is not penalised (score ${relayScore})`)
  })

  it('throttles a member publishing far over its quota while an honest member still gets through', async t => {
    const flooder = generatePublisherKey()
    const honest = generatePublisherKey()
    const doc = governance({ publishers: 'members', members: [flooder.publicKey, honest.publicKey], maxAnnouncementsPerHour: 5 })
    const topic = collectionTopic(parseGovernance(doc))
    const [f, b, h, d] = [await startNode(t, doc), await startNode(t, doc), await startNode(t, doc), await startNode(t, doc)]
    if (process.env.DEBUG_COLL !== undefined) {
      for (const [n, name] of [[b, 'b'], [d, 'd'], [h, 'h']] as const) {
        n.collections.on(e => {
          if (e.type !== 'rejected') {
            console.log(
              name,
              e.type,
              e.type === 'accepted' ? e.announcement.id : e.type === 'failed' ? e.error?.message : ''
            )
          }
        })
      }
    }
    await connect(f, b)
    await connect(h, b)
    await connect(b, d)
    await meshed([[f, 1], [b, 3], [h, 1], [d, 1]])
    // 200 announcements within a second: the rate of 1000 a minute is far over 5 an hour
    await Promise.all(Array.from({ length: 200 }, async (_, i) => await pubsub(f).publish(topic, share(doc, flooder, { id: `spam-${i}` })).catch(() => {})))
    await waitFor(() => (b.collections.stats('riverside').rejected.ERR_QUOTA ?? 0) >= 5, { what: 'b throttling the flooder' })
    if (process.env.DEBUG_COLL !== undefined) console.log([f, b, h, d].map(n => meshPeers(n)), b.collections.stats('riverside'))
    await h.collections.share(file(t, 'meeting.txt', 'Residents meeting, Friday 7pm'), {
      collection: 'riverside',
      key: honest,
      title: 'Residents meeting',
      purpose: 'notice'
    })
    await waitFor(() => synced(d, 'meeting.txt'), { what: 'the honest notice on d' })
    const fromFlooder = (n: CmeshNode): number => n.collections.browse('riverside', { publisher: flooder.publicKey }).length
    assert.equal(fromFlooder(b), 5)
    assert.ok(fromFlooder(d) <= 5)
    await waitFor(() => (b.collections.peerScore(f.peerId.toString()) ?? 0) < 0, { what: "the flooder's score at b going negative" })
    // the local share path applies the same quota
    for (let i = 0; i < 4; i++) await h.collections.share(file(t, `n${i}.txt`, `notice ${i}`), { collection: 'riverside', key: honest, title: `Notice ${i}`, purpose: 'notice' })
    const pinsBefore = [...h.store.pins()].length
    await assert.rejects(h.collections.share(file(t, 'n5.txt', 'one too many'), {
      collection: 'riverside',
      key: honest,
      title: 'Too many',
      purpose: 'notice'
    }), { code: 'ERR_QUOTA' })
    assert.equal([...h.store.pins()].length, pinsBefore, 'a refused share leaves no pin behind')
  })

  it('lets a member at the hourly quota retract their own post, on their node and on a neighbour', async t => {
    const member = generatePublisherKey()
    const doc = governance({ publishers: 'members', members: [member.publicKey], maxAnnouncementsPerHour: 2 })
    const [a, b] = [await startNode(t, doc), await startNode(t, doc)]
    await connect(a, b)
    await meshed([[a, 1], [b, 1]])
    for (const n of ['one', 'two']) await a.collections.share(file(t, `${n}.txt`, `post ${n}`), { collection: 'riverside', key: member, title: n, purpose: 'notice' })
    await assert.rejects(a.collections.share(file(t, 'three.txt', 'post three'), { collection: 'riverside', key: member, title: 'three', purpose: 'notice' }), { code: 'ERR_QUOTA' })
    await waitFor(() => b.collections.browse('riverside').length === 2, { what: 'both posts on b' })
    await a.collections.retract({ collection: 'riverside', key: member, id: 'one.txt' })
    assert.deepEqual(a.collections.browse('riverside').map(e => e.id), ['two.txt'])
    await waitFor(() => b.collections.browse('riverside').length === 1, { what: 'the retraction on b' })
    assert.equal(b.collections.stats('riverside').rejected.ERR_QUOTA ?? 0, 0)
    // the retraction made no room for another post
    await assert.rejects(a.collections.share(file(t, 'four.txt', 'post four'), { collection: 'riverside', key: member, title: 'four', purpose: 'notice' }), { code: 'ERR_QUOTA' })
  })

  it('auto-syncs notices before media, within the collection budget, after catching up by anti-entropy', async t => {
    const leader = generatePublisherKey()
    const doc = governance({ publishers: [leader.publicKey] })
    const a = await startNode(t, doc)
    const media = await a.collections.share(file(t, 'festival.bin', pseudoRandom(120_000, 5)), {
      collection: 'riverside',
      key: leader,
      id: 'festival',
      title: 'Festival video',
      purpose: 'media'
    })
    await a.collections.share(file(t, 'bins.txt', 'Bins go out on Monday night'), {
      collection: 'riverside',
      key: leader,
      id: 'bins',
      title: 'Bin day',
      purpose: 'notice'
    })
    const huge = await a.collections.share(file(t, 'app.bin', pseudoRandom(400_000, 6)), {
      collection: 'riverside',
      key: leader,
      id: 'app',
      title: 'Community app',
      purpose: 'software'
    })
    // a late joiner with room for the notice and the video, not the app
    const b = await startNode(t, doc, 300_000)
    const seen = events(b)
    await connect(b, a)
    await waitFor(() => synced(b, 'bins') && synced(b, 'festival'), { what: 'notice and media synced' })
    await b.collections.syncNow()
    const order = seen.filter(e => e.type === 'synced').map(e => e.type === 'synced' ? e.id : '')
    assert.deepEqual(order, ['bins', 'festival'])
    assert.equal(b.collections.browse('riverside').find(e => e.id === 'app')!.status, 'over-budget')
    assert.ok(!b.store.isPinned(parseCid(huge.root!)))
    assert.ok(b.store.isPinned(parseCid(media.root!)))
    assert.deepEqual(b.collections.list().map(c => [c.resources, c.synced, c.bytes]), [[3, 2, 120_000 + 'Bins go out on Monday night'.length]])
  })

  it('heals a partition: announcements made on one side reach the other side after reconnecting', async t => {
    const leader = generatePublisherKey()
    const doc = governance({ publishers: [leader.publicKey] })
    const [a1, a2, b1, b2] = [await startNode(t, doc), await startNode(t, doc), await startNode(t, doc), await startNode(t, doc)]
    if (process.env.DEBUG_COLL !== undefined) {
      for (const [n, name] of [
        [a2, 'a2'],
        [b1, 'b1'],
        [b2, 'b2']
      ] as const) n.collections.on(e => { console.log(name, e.type, e.type === 'accepted' ? `${e.announcement.id} ${e.via}` : e.type === 'failed' ? e.error?.message : e.type === 'rejected' ? e.code : '') })
    }
    await connect(a1, a2)
    await connect(a2, b1)
    await connect(b1, b2)
    await meshed([[a1, 1], [a2, 2], [b1, 2], [b2, 1]])
    // the bridge goes down
    await a2.libp2p.hangUp(b1.peerId)
    await waitFor(() => a2.libp2p.getConnections(b1.peerId).length === 0 && b1.libp2p.getConnections(a2.peerId).length === 0, { what: 'the halves apart' })
    const r = await a1.collections.share(file(t, 'storm.txt', 'Storm warning tonight'), {
      collection: 'riverside',
      key: leader,
      id: 'storm',
      title: 'Storm warning',
      purpose: 'notice'
    })
    await a1.collections.share(file(t, 'map.bin', pseudoRandom(30_000, 9)), {
      collection: 'riverside',
      key: leader,
      id: 'map',
      title: 'Shelter map',
      purpose: 'education'
    })
    await waitFor(() => synced(a2, 'storm') && synced(a2, 'map'), { what: 'a2 synced' })
    assert.equal(b2.collections.browse('riverside').length, 0)
    // heal: only a2 and b1 reconnect; b2 learns through b1's anti-entropy and gossip
    await connect(b1, a2)
    await waitFor(() => synced(b2, 'storm') && synced(b2, 'map') && synced(b1, 'storm'), { what: 'b2 converged' })
    assert.deepEqual(await collect(b2.cat(parseCid(r.root!))), Buffer.from('Storm warning tonight'))
    assert.ok(await b2.collections.antiEntropy() === 0, 'nothing left to learn')
  })

  it('keeps what it joined and holds across a restart', async t => {
    const leader = generatePublisherKey()
    const doc = governance({ publishers: [leader.publicKey] })
    const repo = join(tempDir(t), 'repo')
    const first = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await first.collections.join(doc, { budget: 1_000_000 })
    await first.collections.share(file(t, 'a.txt', 'hello'), { collection: 'riverside', key: leader, title: 'Hello', purpose: 'other', tags: ['greeting'] })
    await first.stop()
    const again = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    t.after(async () => await again.stop())
    assert.deepEqual(again.collections.browse('riverside', { tag: ['greeting'] }).map(e => [e.title, e.status]), [['Hello', 'synced']])
    assert.equal(again.collections.list()[0]!.budget, 1_000_000)
    assert.equal(again.collections.governance('riverside').retentionDays, 30)
    await again.collections.leave('riverside')
    assert.deepEqual(again.collections.list(), [])
    await assert.rejects(async () => again.collections.browse('riverside'), { code: 'ERR_COLLECTION_NOT_FOUND' })
  })
})
