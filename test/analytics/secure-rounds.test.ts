import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { QUANTITIES } from '../../src/analytics/constants.js'
import { communityReport } from '../../src/analytics/community.js'
import { explain } from '../../src/analytics/report-text.js'
import { renderReport } from '../../src/analytics/report.js'
import { periodStart } from '../../src/analytics/period.js'
import { parseAnalyticsPolicy } from '../../src/analytics/policy.js'
import type { PeriodRelease } from '../../src/analytics/analytics.js'
import * as dagCbor from '@ipld/dag-cbor'
import { randomBytes } from 'node:crypto'
import { decodeAggregate, decodeSecureMessage, encodeSecureMessage, type SecureMessage } from '../../src/analytics/secure-wire.js'
import type { CmeshNode } from '../../src/node/index.js'
import { waitFor } from '../helpers/wait.js'
import { HOUR, count, endWindows, startNodes } from './secure-fixtures.js'

/** 8-byte big-endian two's complement of v, as a contribution would carry it unmasked. */
function word (v: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(v)))
  return b
}

describe('secure aggregation messages', () => {
  const key = new Uint8Array(32).fill(7)
  const contribution: SecureMessage = {
    v: 1, t: 'contribution', round: 'hour:0:1:abc', key, cohort: new Uint8Array(32), masked: new Uint8Array(8 * QUANTITIES.length), shares: [null, new Uint8Array(94), new Uint8Array(94)]
  }

  it('round-trip strictly, and anything off is ERR_INVALID_REPORT', () => {
    assert.deepEqual(decodeSecureMessage(encodeSecureMessage(contribution)), contribution)
    const bad: Array<[string, unknown]> = [
      ['an extra field', { ...contribution, extra: 1 }],
      ['a short key', { ...contribution, key: new Uint8Array(31) }],
      ['a short vector', { ...contribution, masked: new Uint8Array(8) }],
      ['no null share at the sender', { ...contribution, shares: [new Uint8Array(94), new Uint8Array(94)] }],
      ['an unknown type', { ...contribution, t: 'sum' }],
      ['survivors out of order', { v: 1, t: 'recovery', round: 'r', key, cohort: key, survivors: [2, 1], selfMaskShares: [], correction: new Uint8Array(8 * QUANTITIES.length) }],
      ['a share of the wrong size', { v: 1, t: 'recovery', round: 'r', key, cohort: key, survivors: [0, 1], selfMaskShares: [[0, new Uint8Array(65)]], correction: new Uint8Array(8 * QUANTITIES.length) }]
    ]
    for (const [what, m] of bad) assert.throws(() => decodeSecureMessage(dagCbor.encode(m)), { code: 'ERR_INVALID_REPORT' }, what)
    assert.throws(() => decodeSecureMessage(new Uint8Array(17 * 1024)), { code: 'ERR_INVALID_REPORT' }, 'oversize')
    // the same map with its keys out of canonical order
    const wire = Buffer.from(dagCbor.encode({ v: 1, t: 'key', round: 'r', key }))
    const shuffled = Buffer.concat([wire.subarray(0, 1), wire.subarray(wire.indexOf('round') - 1), wire.subarray(1, wire.indexOf('round') - 1)])
    assert.throws(() => decodeSecureMessage(shuffled), { code: 'ERR_INVALID_REPORT' }, 'non-canonical')
    assert.throws(() => decodeAggregate(dagCbor.encode({ v: 1, kind: 'secure-sum' })), { code: 'ERR_INVALID_REPORT' })
  })
})

describe('secure aggregation policy', () => {
  it('is off by default, turned on by policy.json\'s analytics.secureAggregation, a boolean', () => {
    assert.equal(parseAnalyticsPolicy(undefined).secureAggregation, false)
    assert.equal(parseAnalyticsPolicy({ secureAggregation: true }).secureAggregation, true)
    assert.throws(() => parseAnalyticsPolicy({ secureAggregation: 'yes' }), { code: 'ERR_ANALYTICS_POLICY' })
  })
})

describe('secure aggregation rounds over gossip', () => {
  it('too few keys, or a member heard with another key list: nodes fall back to their own release before contributing, and spend once', async (t: TestContext) => {
    let shift = 0
    const base = periodStart('hour', Date.now()) + 20 * HOUR
    const now = (): number => base + shift
    const [a, b, c] = await startNodes(t, 3, now) as [CmeshNode, CmeshNode, CmeshNode]
    // two of the three release: a cohort of 2 is below MIN_COHORT
    const hour1 = now()
    const releasing = Promise.all([a, b].map(async n => await n.analytics.releasePeriod({ at: hour1 })))
    await endWindows([a, b, c], [a, b], hour1)
    const pair = await releasing
    for (const r of pair) {
      assert.equal(r.path, 'per-node')
      assert.match((r as { reason: string }).reason, /2 keys heard/)
    }
    assert.equal(c.analytics.rounds!.sent.length, 0)
    // the hour is spent: a second release is refused before any round message goes out
    const before = a.analytics.rounds!.sent.length
    await assert.rejects(a.analytics.releasePeriod({ at: hour1 }), { code: 'ERR_PRIVACY_BUDGET' })
    assert.equal(a.analytics.rounds!.sent.length, before)

    // an hour on, all three; someone claims b's key heard another key list (messages are not signed)
    shift += HOUR
    const hour2 = now()
    const [pa, pb, pc] = [a, b, c].map(async n => await n.analytics.releasePeriod({ at: hour2 }))
    const bKey = await waitFor(() => b.analytics.rounds!.sent.map(decodeSecureMessage).find(m => m.t === 'key' && m.round.startsWith(`hour:${hour2}:`)))
    const lie = encodeSecureMessage({ v: 1, t: 'cohort', round: bKey.round, key: bKey.key, cohort: new Uint8Array(randomBytes(32)) })
    for (const n of [a, c]) {
      // b's key first (a copy, if gossip has not brought it yet): digests are kept only from keys heard
      n.analytics.rounds!.receive(encodeSecureMessage(bKey))
      assert.equal(n.analytics.rounds!.receive(lie), true)
    }
    await endWindows([a, b, c], [a, b, c], hour2)
    const [ra, rc] = await Promise.all([pa!, pc!])
    // b waits for contributions that do not come: the window ends, the round is over for b
    await endWindows([a, b, c], [b], hour2)
    const rb = await pb
    for (const r of [ra!, rc!]) {
      assert.equal(r.path, 'per-node')
      assert.match((r as { reason: string }).reason, /another key list/)
    }
    assert.equal(rb!.path, 'none', 'b contributed alone: its round is spoilt, its figures unread')
    for (const n of [a, b, c]) assert.equal(n.analytics.budget(hour2).period, 1)
    assert.equal(a.analytics.aggregates().length, 0)
  })

  it('auto-release: once the hour closes, every node releases it in one round, once, and holds the same community sum', async (t: TestContext) => {
    let shift = 0
    const base = periodStart('hour', Date.now()) + 30 * HOUR
    const now = (): number => base + shift
    const nodes = await startNodes(t, 3, now, { autoRelease: true, releaseCheckMs: 100 })
    nodes.forEach((n, i) => count(n, i, 1))
    const hour = now()
    shift += HOUR
    // while the round runs, made-up round names flood one node: its running round is not pushed out
    const rounds = nodes[0]!.analytics.rounds!
    const started = await waitFor(() => rounds.sent.map(decodeSecureMessage).find(m => m.t === 'key'))
    const junk = (round: string, t: 'key' | 'cohort' = 'key'): Uint8Array => encodeSecureMessage(t === 'key'
      ? { v: 1, t, round, key: new Uint8Array(randomBytes(32)) }
      : { v: 1, t, round, key: new Uint8Array(randomBytes(32)), cohort: new Uint8Array(32) })
    for (let i = 0; i < 20; i++) assert.equal(rounds.receive(junk(`hour:${i * HOUR}:1:0123456789abcdef`)), true)
    assert.equal(rounds.receive(junk('not a round name')), false)
    assert.equal(rounds.receive(junk(started.round, 'cohort')), false, 'a digest from a key never announced')
    await endWindows(nodes, nodes, hour)
    const sums = await waitFor(() => {
      const all = nodes.map(n => n.analytics.aggregates().filter(a => a.start === hour))
      return all.every(a => a.length === 1) ? all.map(a => a[0]!) : undefined
    }, { what: 'the community sum at every node' })
    assert.deepEqual(sums.map(a => a.values.peerMB), [4 + 5 + 6, 4 + 5 + 6, 4 + 5 + 6])
    assert.deepEqual(sums.map(a => a.values.savedMB), [5 + 7 + 9, 5 + 7 + 9, 5 + 7 + 9])
    assert.deepEqual(sums.map(a => a.contributors), [3, 3, 3])
    for (const n of nodes) {
      assert.equal(n.analytics.budget(hour).period, 1)
      assert.equal(n.analytics.reports().length, 0, 'no node released on its own')
      assert.equal(n.analytics.rounds!.sent.filter(m => decodeSecureMessage(m).t === 'key').length, 1, 'one round, however many checks ran')
    }
  })

  it('five nodes on loopback: the sum is exact without noise, a node that drops after contributing is recovered, one that does not contribute is out, and no message carries plain figures', async (t: TestContext) => {
    let shift = 0
    const base = periodStart('hour', Date.now()) + 10 * HOUR
    const now = (): number => base + shift
    const nodes = await startNodes(t, 5, now)
    const [a, b, c, d, e] = nodes as [CmeshNode, CmeshNode, CmeshNode, CmeshNode, CmeshNode]

    // round 1: all five; e stops as soon as its contribution is out (it never sends a recovery)
    nodes.forEach((n, i) => count(n, i, 1))
    const hour1 = now()
    const releasing1 = Promise.all(nodes.map(async n => await n.analytics.releasePeriod({
      at: hour1,
      hooks: n === e ? { contributed: async () => { await e.stop() } } : {}
    })))
    // the key window; then the one the others wait in for e's recovery (e, stopped, waits for nothing more)
    await endWindows(nodes, nodes, hour1)
    await endWindows(nodes, [a, b, c, d], hour1)
    const first = await releasing1
    const secure1 = first.slice(0, 4) as Array<Extract<PeriodRelease, { path: 'secure' }>>
    for (const r of secure1) assert.equal(r.path, 'secure', `a survivor released by the round: ${JSON.stringify(r)}`)
    assert.equal(first[4]!.path, 'none', 'the node that dropped saw no sum')
    const figures1 = first.map(r => (r as { figures: Record<string, number> }).figures)
    for (const q of QUANTITIES) {
      const truth = figures1.reduce((s, f) => s + f[q.key]!, 0)
      for (const r of secure1) assert.equal(r.aggregate.values[q.key], truth, `${q.key}: the sum of all five, the dropped node's self mask rebuilt`)
    }
    assert.ok(figures1[2]!.peerMB! > 0 && figures1[2]!.peerMB !== figures1[3]!.peerMB, 'the figures differ between nodes')
    assert.deepEqual(secure1.map(r => r.aggregate.contributors), [5, 5, 5, 5])
    assert.equal(new Set(secure1.map(r => Buffer.from(r.aggregate.id).toString('hex'))).size, 1, 'every node computed the same aggregate')
    for (const n of [a, b, c, d]) assert.equal(n.analytics.budget(hour1).period, 1, 'the epsilon of the hour is spent once')

    // round 2, an hour on: four nodes; d leaves the round once the cohort is agreed, before contributing
    shift += HOUR
    const four = [a, b, c, d]
    four.forEach((n, i) => count(n, i, 2))
    const hour2 = now()
    const releasing2 = four.map(async n => await n.analytics.releasePeriod({
      at: hour2,
      hooks: n === d ? { cohort: () => false } : {}
    }))
    // the key window; once d has left, the window a, b and c wait in for d's contribution
    await endWindows(nodes, four, hour2)
    await releasing2[3]
    await endWindows(nodes, [a, b, c], hour2)
    const second = await Promise.all(releasing2)
    const secure2 = second.slice(0, 3) as Array<Extract<PeriodRelease, { path: 'secure' }>>
    for (const r of secure2) assert.equal(r.path, 'secure', `a contributor released by the round: ${JSON.stringify(r)}`)
    assert.equal(second[3]!.path, 'per-node', 'the node that left before contributing released its own noisy figures')
    const figures2 = secure2.map(r => r.figures)
    for (const q of QUANTITIES) {
      const truth = figures2.reduce((s, f) => s + f[q.key]!, 0)
      for (const r of secure2) assert.equal(r.aggregate.values[q.key], truth, `${q.key}: a, b and c only`)
    }
    assert.deepEqual(secure2.map(r => [r.aggregate.contributors, r.aggregate.cohort, r.aggregate.threshold]), [[3, 4, 3], [3, 4, 3], [3, 4, 3]])
    for (const n of four) assert.equal(n.analytics.budget(hour2).period, 1, 'each spent the hour once, on whichever path released')

    // the report reads the community aggregate (one noise draw) beside d's own release, heard over gossip
    const report = await waitFor(() => {
      const r = communityReport(a.analytics, { now })
      const p = r.periods.find(p => p.start === hour2)
      return p !== undefined && p.nodesOnline === 4 ? p : undefined
    }, { what: 'd\'s per-node release at a' })
    assert.equal(report.secureContributors, 3)
    assert.match(explain(communityReport(a.analytics, { now })), /Secure aggregation: in .*\(3 of 4 nodes\)/)
    assert.ok(renderReport(communityReport(a.analytics, { now }), 'csv').includes(`${new Date(hour2).toISOString()},health,secureContributors,3,`))
    assert.equal(communityReport(a.analytics, { now }).periods.find(p => p.start === hour1)!.secureContributors, 5)

    // no message a node broadcast carries its figures unmasked
    const rounds = [[figures1, nodes], [figures2, [a, b, c]]] as const
    for (const [figures, who] of rounds) {
      who.forEach((n, i) => {
        const plain = Buffer.concat(QUANTITIES.map(q => word(figures[i]![q.key]!)))
        const sent = n.analytics.rounds!.sent
        assert.ok(sent.length >= 3, 'the node took part')
        for (const bytes of sent) {
          assert.equal(Buffer.from(bytes).indexOf(plain), -1, 'a message holds the plain vector')
          for (const q of QUANTITIES) if (figures[i]![q.key]! > 0) assert.equal(Buffer.from(bytes).indexOf(word(figures[i]![q.key]!)), -1, `a message holds ${q.key} in the clear`)
          const m = decodeSecureMessage(bytes)
          if (m.t === 'contribution') assert.notDeepEqual(Buffer.from(m.masked), plain)
        }
      })
    }
  })
})
