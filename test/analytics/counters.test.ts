import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Analytics } from '../../src/analytics/analytics.js'
import { MetricsStore, NO_METRICS } from '../../src/analytics/counters.js'
import { readAnalyticsPolicy } from '../../src/analytics/policy.js'
import { tempDir } from '../helpers/temp.js'

const HOUR = 3600_000
const T0 = Date.UTC(2026, 10, 23, 10)

describe('local counters', () => {
  it('count by hour in memory, reach LMDB in one flush, and survive a restart', async t => {
    const repo = join(tempDir(t), 'repo')
    let now = T0 + 60_000
    const m = new MetricsStore(repo, () => now)
    m.count('bytes.served', 1000)
    m.count('bytes.served', 500)
    m.gauge('peers.seen', 3)
    m.gauge('peers.seen', 2)
    m.resource('bafyroot1')
    now += HOUR // the next hour: the first one's counts are sealed, not lost
    m.count('bytes.served', 7)
    m.count('cache.hits')
    assert.deepEqual(m.read(T0, T0 + HOUR), { 'bytes.served': 1500, 'peers.seen': 3 }, 'unflushed counts are read')
    await m.close()
    const again = new MetricsStore(repo, () => now)
    t.after(async () => await again.close())
    assert.deepEqual(again.read(T0, T0 + HOUR), { 'bytes.served': 1500, 'peers.seen': 3 })
    assert.deepEqual(again.read(T0, T0 + 2 * HOUR), { 'bytes.served': 1507, 'cache.hits': 1, 'peers.seen': 3 })
    assert.deepEqual(again.totals(), { 'bytes.served': 1507, 'cache.hits': 1 })
    assert.deepEqual([...again.resources(T0, T0 + HOUR)], ['bafyroot1'])
    assert.equal(again.firstHour(), T0)
  })

  it('refuse bad counter names and ignore non-positive counts', async t => {
    const m = new MetricsStore(join(tempDir(t), 'repo'))
    t.after(async () => await m.close())
    assert.throws(() => m.count('Peer 12D3KooW'), { code: 'ERR_INVALID_OPTION' })
    m.count('errors', -5)
    m.count('errors', Number.NaN)
    assert.deepEqual(m.totals(), {})
  })

  it('analytics off: nothing is counted and no metrics.mdb is made', async t => {
    const repo = join(tempDir(t), 'repo')
    const a = new Analytics(repo, { enabled: false })
    assert.equal(a.metrics, NO_METRICS)
    a.metrics.count('bytes.served', 5)
    await assert.rejects(a.release(), { code: 'ERR_ANALYTICS_POLICY' })
    await a.stop()
    assert.equal(existsSync(join(repo, 'metrics.mdb')), false)
  })
})

describe('analytics policy', () => {
  it('reads only the analytics key of policy.json, strictly', t => {
    const repo = tempDir(t)
    assert.equal(readAnalyticsPolicy(repo).epsilonPerPeriod, 1, 'defaults without a file')
    writeFileSync(join(repo, 'policy.json'), JSON.stringify({
      fairness: { anything: true },
      priorities: [1],
      analytics: { period: 'day', epsilonPerPeriod: 0.5, lifetimeEpsilon: 20 }
    }))
    const p = readAnalyticsPolicy(repo)
    assert.equal(p.period, 'day')
    assert.equal(p.epsilonPerPeriod, 0.5)
    assert.equal(p.lifetimeEpsilon, 20)
    writeFileSync(join(repo, 'policy.json'), JSON.stringify({ analytics: { caps: { servedMB: 50 } } }))
    assert.deepEqual(readAnalyticsPolicy(repo).caps, { servedMB: 50 })
    for (const bad of [
      { epsilon: 1 },
      { epsilonPerPeriod: -1 },
      { epsilonPerPeriod: 0 },
      { period: 'year' },
      { maxResources: 0 },
      { epsilonPerPeriod: 5, lifetimeEpsilon: 2 },
      { caps: { who: 1 } },
      { caps: { servedMB: 0.5 } },
      { caps: { newNode: 5 } },
      'on'
    ]) {
      writeFileSync(join(repo, 'policy.json'), JSON.stringify({ analytics: bad }))
      assert.throws(() => readAnalyticsPolicy(repo), { code: 'ERR_ANALYTICS_POLICY' }, JSON.stringify(bad))
    }
    writeFileSync(join(repo, 'policy.json'), '{not json')
    assert.throws(() => readAnalyticsPolicy(repo), { code: 'ERR_ANALYTICS_POLICY' })
  })
})
