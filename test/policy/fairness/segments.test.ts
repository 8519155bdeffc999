import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { CMESH_BIN } from '../../helpers/cli.js'
import { tempDir } from '../../helpers/temp.js'
import { buildSegments, canRunNamespaces } from '../../helpers/netns.js'

describe('real network segments', () => {
  it('a new node finds the nodes of its segment by mDNS within 5 s and ranks them above the other segment', async t => {
    const why = canRunNamespaces()
    if (why !== undefined) {
      console.error(`\n*** SKIPPING the network-namespace test: ${why} ***\n`)
      t.skip(why)
      return
    }
    const { hosts } = buildSegments(t.after.bind(t))
    const dir = tempDir(t)
    const daemons: ChildProcess[] = []
    t.after(async () => {
      for (const d of daemons) if (d.exitCode === null) d.kill('SIGTERM')
      await Promise.all(daemons.map(async d => d.exitCode === null ? await once(d, 'exit') : undefined))
    })
    const addrs = new Map<string, { peerId: string, addrs: string[] }>()
    for (const name of ['a2', 'a3', 'b1', 'b2']) {
      const h = hosts.get(name)!
      const child = spawn(
        'ip',
        ['netns', 'exec', h.ns, process.execPath, CMESH_BIN, 'daemon', '--repo', join(dir, name), '--json', '--listen', '/ip4/0.0.0.0/tcp/4001'],
        { stdio: ['ignore', 'pipe', 'inherit'] }
      )
      daemons.push(child)
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
      const ready = JSON.parse(line) as { peerId: string, addrs: string[] }
      assert.ok(ready.addrs.every(a => !a.startsWith('/ip4/127.')), `no loopback address is announced: ${ready.addrs.join(' ')}`)
      addrs.set(name, ready)
    }
    // the newcomer in A knows the B nodes only by bootstrap address: mDNS does not cross the router
    const bootstrap = ['b1', 'b2'].flatMap(n => ['--bootstrap', `/ip4/${hosts.get(n)!.addr}/tcp/4001/p2p/${addrs.get(n)!.peerId}`])
    const out = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        hosts.get('a1')!.ns,
        process.execPath,
        CMESH_BIN,
        'peers',
        '--repo',
        join(dir, 'a1'),
        '--json',
        '--wait',
        '5',
        '--listen',
        '/ip4/0.0.0.0/tcp/4001',
        ...bootstrap
      ],
      { encoding: 'utf8' }
    )
    const peers = out.trim().split('\n').map(l => JSON.parse(l) as { peerId: string, segment: string, discoveredAfterMs?: number, rttMs?: number })
    const sameSegment = new Set(['a2', 'a3'].map(n => addrs.get(n)!.peerId))
    const otherSegment = new Set(['b1', 'b2'].map(n => addrs.get(n)!.peerId))
    assert.deepEqual(new Set(peers.map(p => p.peerId)), new Set([...sameSegment, ...otherSegment]), 'all four peers are known')
    for (const p of peers.slice(0, 2)) {
      assert.ok(sameSegment.has(p.peerId), 'the two same-segment peers rank first')
      assert.equal(p.segment, 'same')
      // connected during the command's 5 s wait (its own clock bounds that: how many ms into it depends on the machine)
      assert.ok(p.discoveredAfterMs !== undefined, 'found by mDNS during the wait')
    }
    for (const p of peers.slice(2)) assert.equal(p.segment, 'other')
  })
})
