import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createNode } from '../../src/node/index.js'
import { Origin } from '../helpers/origin.js'
import { collect, pseudoRandom, tempDir } from '../helpers/temp.js'

describe('community cache counters', () => {
  it('a miss fetched from the origin, then a hit, reach node.metrics as cache and external-bytes counters, without the URL', async t => {
    const origin = new Origin()
    await origin.start()
    t.after(async () => await origin.stop())
    origin.set('/pkg.tar', { bytes: pseudoRandom(200_000, 4), headers: { 'cache-control': 'max-age=600' } })
    const node = await createNode({
      repo: join(tempDir(t), 'repo'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      minPeers: 0,
      urlCache: { prefetchIntervalMs: 0, allowLoopbackOrigins: true }
    })
    t.after(async () => await node.stop().catch(() => {}))
    await collect((await node.fetchUrl(origin.url('/pkg.tar'))).body())
    await collect((await node.fetchUrl(origin.url('/pkg.tar'))).body())
    const totals = node.analytics.totals()
    assert.equal(totals['cache.misses'], 1)
    assert.equal(totals['cache.hits'], 1)
    assert.equal(totals['external.bytes'], 200_000)
    assert.equal(totals['external.bytes.saved'], 200_000)
    assert.ok(!JSON.stringify(totals).includes('pkg.tar'))
  })
})
