import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import type { Stream } from '@libp2p/interface'
import type { PeriodRelease } from '../../src/analytics/analytics.js'
import { communityReport } from '../../src/analytics/community.js'
import { ANALYTICS_SUM_SYNC_PROTOCOL, QUANTITIES } from '../../src/analytics/constants.js'
import { periodStart } from '../../src/analytics/period.js'
import { decodeTranscript, encodeTranscript, transcriptId } from '../../src/analytics/secure-transcript.js'
import { readFrames, sendFrame } from '../../src/sync/exchange/framing.js'
import type { CmeshNode } from '../../src/node/index.js'
import { waitFor } from '../helpers/wait.js'
import { HOUR, count, endWindows, secureNode, startNodes } from './secure-fixtures.js'

type Secure = Extract<PeriodRelease, { path: 'secure' }>
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** The transcript with the top byte of one masked value of one contribution flipped (what a forger would change). */
function forge (transcript: Uint8Array): Uint8Array {
  const t = decodeTranscript(transcript)
  const masked = new Uint8Array(t.contributions[1]![1])
  masked[8] = masked[8]! ^ 0x40
  t.contributions[1] = [t.contributions[1]![0], masked]
  return encodeTranscript(t)
}

/** A program answering the sums' anti-entropy on `node` with one transcript, whatever it is asked. */
async function serve (node: CmeshNode, start: number, transcript: Uint8Array): Promise<void> {
  await node.libp2p.unhandle(ANALYTICS_SUM_SYNC_PROTOCOL)
  await node.libp2p.handle(ANALYTICS_SUM_SYNC_PROTOCOL, async (stream: Stream) => {
    try {
      const frames = readFrames(stream, 1 << 20)[Symbol.asyncIterator]()
      await frames.next()
      await sendFrame(stream, dagCbor.encode({ ids: [[start, [transcriptId(transcript)]]] }))
      await frames.next()
      await sendFrame(stream, transcript)
      await stream.close()
    } catch {} // the asker hung up first
  })
}

describe('secure sums that arrive: transcripts exchanged by anti-entropy, the sum recomputed', () => {
  it('a node away during the round gets the community sum on connecting, and reports what the others do; a forged transcript is refused', async (t: TestContext) => {
    const base = periodStart('hour', Date.now()) + 40 * HOUR
    const now = (): number => base
    const nodes = await startNodes(t, 3, now)
    const [a] = nodes as [CmeshNode]
    // d and f exist during the round but are connected to no one
    const d = await secureNode(t, now)
    const f = await secureNode(t, now)
    nodes.forEach((n, i) => count(n, i, 1))
    const hour = now()
    const releasing = Promise.all(nodes.map(async n => await n.analytics.releasePeriod({ at: hour })))
    await endWindows(nodes, nodes, hour)
    const released = await releasing
    for (const r of released) assert.equal(r.path, 'secure', `a member released by the round: ${JSON.stringify(r)}`)
    const secure = released as Secure[]
    assert.equal(new Set(secure.map(r => hex(r.transcript))).size, 1, 'every member holds the same transcript')
    const transcript = secure[0]!.transcript
    const truth = Object.fromEntries(QUANTITIES.map(q => [q.key, secure.reduce((s, r) => s + r.figures[q.key]!, 0)]))
    assert.equal(d.analytics.aggregates().length, 0)

    // a forged transcript, handed directly: refused with a typed error, nothing kept
    const forged = forge(transcript)
    assert.throws(() => d.analytics.receiveTranscript(forged), { code: 'ERR_INVALID_REPORT', message: /does not unmask/ })
    assert.equal(d.analytics.aggregates().length, 0)

    // the same forgery from a peer over anti-entropy: the exchange fails as for a bad release, nothing is kept
    await serve(f, hour, forged)
    await d.dial(f.addrs()[0]!)
    await assert.rejects(d.analytics.exchange(), { code: 'ERR_INVALID_REPORT' })
    assert.equal(d.analytics.aggregates().length, 0, 'a forged transcript changes nothing')
    await f.stop()

    // d meets a: the transcript comes by anti-entropy, d unmasks it and holds the sum a computed
    await d.dial(a.addrs()[0]!)
    const sum = await waitFor(() => d.analytics.aggregates().find(x => x.start === hour), { what: 'the community sum at d' })
    assert.ok(d.analytics.sumExchanges.some(e => e.stored === 1), 'd fetched the transcript by anti-entropy')
    assert.deepEqual(sum, secure[0]!.aggregate, 'the same record as the members computed')
    assert.deepEqual(sum.values, truth)
    const period = (n: CmeshNode): unknown => communityReport(n.analytics, { now }).periods.find(p => p.start === hour)
    assert.ok(period(d) !== undefined)
    assert.deepEqual(period(d), period(a), 'd reports the same totals as the members')

    // one sum per round: the transcript again, or another one of the same round, adds nothing
    assert.equal(d.analytics.receiveTranscript(transcript), 'duplicate')
    const other = decodeTranscript(transcript)
    other.recoveries = other.recoveries.slice(0, 2)
    assert.equal(d.analytics.receiveTranscript(encodeTranscript(other)), 'duplicate')
    assert.equal(d.analytics.aggregates().length, 1)

    // d restarts: the sum and its transcript are on disk, and d hands them on to a node that meets only it
    await d.stop()
    const d2 = await secureNode(t, now, {}, d.analytics.repo)
    assert.deepEqual(d2.analytics.aggregates(), [sum], 'the restarted node kept the sum')
    const g = await secureNode(t, now)
    await g.dial(d2.addrs()[0]!)
    assert.deepEqual(await waitFor(() => g.analytics.aggregates()[0], { what: 'the sum at g, through d' }), sum)
  })

  it('transcripts are decoded strictly, and a round under another policy is not taken', async (t: TestContext) => {
    const now = (): number => periodStart('hour', Date.now())
    const node = await secureNode(t, now)
    const key = (b: number): Uint8Array => new Uint8Array(32).fill(b)
    const good = {
      v: 1 as const,
      kind: 'secure-transcript' as const,
      round: `hour:${now()}:1:0123456789abcdef`,
      keys: [key(1), key(2), key(3)],
      contributions: [[0, new Uint8Array(8 * QUANTITIES.length)], [1, new Uint8Array(8 * QUANTITIES.length)]] as Array<[number, Uint8Array]>,
      recoveries: [[0, [[1, new Uint8Array(66)]], new Uint8Array(8 * QUANTITIES.length)]] as Array<[number, Array<[number, Uint8Array]>, Uint8Array]>
    }
    assert.deepEqual(decodeTranscript(encodeTranscript(good)), good)
    // well formed, but the round's parameters are not this node's (its name differs): not taken, not an error
    assert.equal(node.analytics.receiveTranscript(encodeTranscript(good)), 'other-policy')
    const bad: Array<[string, unknown]> = [
      ['an extra field', { ...good, extra: 1 }],
      ['unsorted keys', { ...good, keys: [key(2), key(1), key(3)] }],
      ['a short vector', { ...good, contributions: [[0, new Uint8Array(8)]] }],
      ['indices out of order', { ...good, contributions: [good.contributions[1], good.contributions[0]] }],
      ['an index outside the cohort', { ...good, contributions: [[5, new Uint8Array(8 * QUANTITIES.length)]] }],
      ['a recovery from a node that did not contribute', { ...good, recoveries: [[2, [], new Uint8Array(8 * QUANTITIES.length)]] }],
      ['not a round name', { ...good, round: 'hour:x' }]
    ]
    for (const [what, m] of bad) assert.throws(() => node.analytics.receiveTranscript(dagCbor.encode(m)), { code: 'ERR_INVALID_REPORT' }, what)
    assert.throws(() => decodeTranscript(new Uint8Array(449 * 1024)), { code: 'ERR_INVALID_REPORT' }, 'oversize')
    assert.equal(node.analytics.aggregates().length, 0)
  })
})
