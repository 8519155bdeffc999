import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { monitorSource } from '../../../src/analytics/node-hooks.js'
import { health } from '../../../src/analytics/prometheus.js'
import { createNode } from '../../../src/node/index.js'
import { repoPath } from '../../../src/repo/index.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import { tempDir } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

/** A peer id of no running node: a peer of another segment this node was connected to in an earlier run. */
const GONE = '12D3KooWLRJYjCzkU9XjUCQSFyy9r22zLCtJor5LWy1fUtAxF5vc'

describe('reachability warnings', () => {
  it('warn once a bootstrap peer or a peer of another segment has been unreachable for a minute, and when it is back', async t => {
    const loopback = ['/ip4/127.0.0.1/tcp/0']
    const repoA = join(tempDir(t), 'a')
    let a = await createNode({ repo: repoA, listen: loopback, mdns: false, minPeers: 0 })
    t.after(async () => await a.stop().catch(() => {}))
    const aAddr = a.addrs()[0]!
    const repoB = join(tempDir(t), 'b')
    mkdirSync(repoB, { recursive: true })
    // a port nothing listens on: the remembered peer refuses at once
    writeFileSync(repoPath(repoB, 'peers'), JSON.stringify({ peers: [{ peerId: GONE, addrs: ['/ip4/127.0.0.1/tcp/9'], lastConnected: Date.now(), segment: 'other' }] }))
    const clock = new FakeClock()
    const warnings: string[] = []
    const b = await createNode({ repo: repoB, listen: loopback, mdns: false, minPeers: 0, bootstrap: [aAddr], clock, onWarning: m => warnings.push(m) })
    t.after(async () => await b.stop().catch(() => {}))
    assert.deepEqual(b.peerMemory.list().map(p => p.peerId), [GONE])

    clock.advance(50_000)
    assert.deepEqual(warnings, [], 'nothing to say before a minute has passed')
    assert.equal(health(monitorSource(b)).status, 'ok')
    clock.advance(20_000)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, new RegExp(`peer of another segment connected before ${GONE} has been unreachable for 60 s`))
    const h = health(monitorSource(b))
    assert.equal(h.status, 'warn')
    assert.deepEqual(h.warnings, ['1 peer of another segment connected before unreachable for over 60 s'])
    assert.ok(!JSON.stringify(h).includes(GONE), '/health names no peer')
    clock.advance(120_000)
    assert.equal(warnings.length, 1, 'one warning, not one a check')

    // the bootstrap peer goes away: its link is gone although the node still runs
    await a.stop()
    await waitFor(() => b.libp2p.getPeers().length === 0, { what: 'b to lose a' })
    clock.advance(80_000)
    assert.equal(warnings.length, 2)
    assert.match(warnings[1]!, /^bootstrap peer \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+ has been unreachable for 60 s$/)
    assert.deepEqual(b.reachability.unreachable().map(u => u.kind).sort(), ['bootstrap', 'other-segment'])
    assert.deepEqual(health(monitorSource(b)).warnings, [
      '1 bootstrap peer unreachable for over 60 s',
      '1 peer of another segment connected before unreachable for over 60 s'
    ])

    // back on the same address (same repository, same port): reached again, said once
    a = await createNode({ repo: repoA, listen: [aAddr.replace(/\/p2p\/.*$/, '')], mdns: false, minPeers: 0 })
    await b.dial(aAddr)
    clock.advance(10_000)
    assert.equal(warnings.length, 3)
    assert.match(warnings[2]!, /^bootstrap peer .* is reachable again$/)
    assert.deepEqual(b.reachability.unreachable().map(u => u.target), [GONE])
  })
})
