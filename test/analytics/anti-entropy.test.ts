import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import type { Stream } from '@libp2p/interface'
import { decodeIds, decodeSummary } from '../../src/analytics/anti-entropy.js'
import { ANALYTICS_SYNC_PROTOCOL, MAX_SYNC_WANTS } from '../../src/analytics/constants.js'
import { encodeReport } from '../../src/analytics/wire.js'
import { noisyRelease } from '../../src/analytics/release.js'
import { periodStart } from '../../src/analytics/period.js'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { readFrames, sendFrame } from '../../src/sync/exchange/framing.js'
import { tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const POLICY = { epsilonPerPeriod: 8, lifetimeEpsilon: 100 }

async function startNode (t: TestContext, repo: string, syncIntervalMs?: number): Promise<CmeshNode> {
  const node = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, minPeers: 0, analytics: { policy: POLICY, flushIntervalMs: 200, syncIntervalMs } })
  t.after(async () => await node.stop().catch(() => {}))
  return node
}

const ids = (n: CmeshNode): string[] => n.analytics.reports().map(r => Buffer.from(r.id).toString('hex')).sort()

describe('releases that arrive: kept on disk, exchanged on connect', () => {
  it('a restarted node keeps its releases; a node that joins later, or comes back after a partition, gets every earlier one', async t => {
    const dir = tempDir(t)
    const a = await startNode(t, join(dir, 'a'))
    let b = await startNode(t, join(dir, 'b'))
    await a.dial(b.addrs()[0]!)
    await a.analytics.release({ epsilon: 1 })
    await b.analytics.release({ epsilon: 1 })
    await waitFor(() => ids(a).length === 2 && ids(b).length === 2, { what: 'both releases at a and b' })

    // b restarts: what it held is on disk
    const held = ids(b)
    await b.stop()
    // while b is down, a releases again: b misses it live
    await a.analytics.release({ epsilon: 1 })
    b = await startNode(t, join(dir, 'b'))
    assert.deepEqual(ids(b), held, 'the restarted node kept the releases it had')

    // c joins later, meeting only b, and b meets a again: every release reaches everyone by anti-entropy alone
    // c exchanges on a timer too, as a daemon does every 5 minutes
    const c = await startNode(t, join(dir, 'c'), 100)
    await c.dial(b.addrs()[0]!)
    await waitFor(() => ids(c).length === 2, { what: 'c to get what b held' })
    await b.dial(a.addrs()[0]!)
    await waitFor(() => ids(b).length === 3, { what: 'b to get the release it missed while down' })
    assert.ok(b.analytics.exchanges.some(e => e.stored > 0), 'b fetched by anti-entropy')
    // c's timer brings it the one b caught up on
    await waitFor(() => ids(c).length === 3, { what: 'c to catch up through b on its timer' })
    assert.deepEqual(ids(c), ids(a))
    assert.deepEqual(ids(b), ids(a))
    // nothing more to exchange once they agree: c's exchanges that begin from now on ask for nothing. One exchange per
    // peer may be under way, having asked before the third release was stored (it may arrive by gossip meanwhile):
    // the first two that end after this point are left out. (The list keeps the last 100: read after a marked entry.)
    const mark = c.analytics.exchanges.at(-1)
    const since = (): typeof c.analytics.exchanges => c.analytics.exchanges.slice(mark === undefined ? 0 : c.analytics.exchanges.indexOf(mark) + 1)
    await waitFor(() => since().length >= 4, { what: 'four more exchanges by c' })
    assert.deepEqual(since().slice(2).map(e => [e.asked, e.stored]), since().slice(2).map(() => [0, 0]), 'asking for nothing, bringing nothing')
    assert.equal(ids(c).length, 3)
  })

  it('an exchange asked for while one with the same peer runs joins it, and is recorded once', async t => {
    const dir = tempDir(t)
    const a = await startNode(t, join(dir, 'a'))
    const b = await startNode(t, join(dir, 'b'))
    await b.analytics.release({ epsilon: 1 })
    await a.dial(b.addrs()[0]!)
    // the exchange begun on connecting brings b's release
    await waitFor(() => a.analytics.exchanges.length === 1, { what: "a's exchange on connecting" })
    assert.deepEqual(a.analytics.exchanges.map(e => [e.asked, e.stored]), [[1, 1]])
    const [first, second] = await Promise.all([a.analytics.exchange(), a.analytics.exchange()])
    assert.equal(first, second, 'the second joined the first')
    assert.deepEqual(a.analytics.exchanges.map(e => [e.asked, e.stored]), [[1, 1], [0, 0]])
  })

  it('a peer answering with a release not asked for, a malformed one, or an oversized list is refused, and nothing is kept', async t => {
    const dir = tempDir(t)
    const honest = await startNode(t, join(dir, 'honest'))
    const faulty = await startNode(t, join(dir, 'faulty'))
    let mode: 'other' | 'garbage' | 'huge' = 'other'
    const start = periodStart('week', Date.now())
    const release = (): Uint8Array => encodeReport(noisyRelease({ period: 'week', start, counters: {}, requested: new Set(), catalog: [], epsilon: 1, maxResources: 1 }))
    // a program that speaks the protocol badly, in place of the faulty node's own answerer
    await faulty.libp2p.unhandle(ANALYTICS_SYNC_PROTOCOL)
    await faulty.libp2p.handle(ANALYTICS_SYNC_PROTOCOL, async (stream: Stream) => {
      try {
        const frames = readFrames(stream, 1 << 20)[Symbol.asyncIterator]()
        await frames.next()
        const wanted = new Uint8Array(16).fill(7)
        if (mode === 'huge') {
          await sendFrame(stream, dagCbor.encode({ ids: [[start, Array.from({ length: 20_001 }, () => wanted)]] }))
        } else {
          await sendFrame(stream, dagCbor.encode({ ids: [[start, [wanted]]] }))
          await frames.next()
          await sendFrame(stream, mode === 'other' ? release() : new Uint8Array([0xa1, 0x61, 0x76, 0x01]))
        }
        await stream.close()
      } catch {} // the honest side hung up first: what this peer does next does not matter
    })
    await honest.dial(faulty.addrs()[0]!)
    for (const [m, code] of [['other', 'ERR_PROTOCOL'], ['garbage', 'ERR_INVALID_REPORT'], ['huge', 'ERR_PROTOCOL']] as const) {
      mode = m
      await assert.rejects(honest.analytics.exchange(), { code }, m)
    }
    assert.equal(honest.analytics.reports().length, 0)
  })

  it('summaries and id lists are decoded strictly', () => {
    const digest = new Uint8Array(16)
    assert.deepEqual(decodeSummary(dagCbor.encode({ summary: [[0, 1, digest]] })), [[0, 1, digest]])
    assert.throws(() => decodeSummary(dagCbor.encode({ summary: [[0, 1, new Uint8Array(3)]] })), { code: 'ERR_PROTOCOL' })
    assert.throws(() => decodeSummary(dagCbor.encode({ summary: [], extra: 1 })), { code: 'ERR_PROTOCOL' })
    assert.throws(() => decodeIds(dagCbor.encode({ want: [[0, Array.from({ length: MAX_SYNC_WANTS + 1 }, () => digest)]] }), 'want'), /more than/)
    assert.throws(() => decodeIds(new Uint8Array([0xff]), 'ids'), { code: 'ERR_PROTOCOL' })
  })
})

describe('releases held on disk', () => {
  it('are bounded per period and in all (the oldest period goes first), and forgotten past the window', async t => {
    const { open } = await import('lmdb')
    const { ReleaseHoldings } = await import('../../src/analytics/holdings.js')
    const env = open({ path: join(tempDir(t), 'holdings.mdb') })
    t.after(async () => await env.close())
    const holdings = new ReleaseHoldings(env.openDB<Uint8Array, string>({ name: 'reports', encoding: 'binary' }), { perPeriod: 3, held: 5 })
    const week = (w: number): number => periodStart('week', Date.UTC(2026, 9, 5) + w * 7 * 86_400_000)
    const keep = (w: number): string => {
      const r = noisyRelease({ period: 'week', start: week(w), counters: {}, requested: new Set(), catalog: [], epsilon: 1, maxResources: 1 })
      return holdings.keep(encodeReport(r), r)
    }
    assert.deepEqual([keep(0), keep(0), keep(0), keep(0)], ['stored', 'stored', 'stored', 'full'], 'three a period')
    assert.deepEqual([keep(1), keep(1)], ['stored', 'stored'])
    // full: a newer period pushes the oldest out; an older one than all held is refused
    assert.equal(keep(2), 'stored')
    assert.deepEqual(holdings.summary(10).map(([start, count]) => [start, count]), [[week(2), 1], [week(1), 2]])
    // full again: a release older than every period held is refused rather than pushing a newer one out
    assert.deepEqual([keep(2), keep(2), keep(0)], ['stored', 'stored', 'full'])
    const [, , digest] = holdings.summary(1)[0]!
    assert.equal(digest.length, 16)
    assert.equal(holdings.ids(week(1)).length, 2)
    assert.equal(holdings.prune(week(2)), 2)
    assert.equal(holdings.all().length, 3)
  })
})
