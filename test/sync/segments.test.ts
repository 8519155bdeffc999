import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it, type TestContext } from 'node:test'
import { CMESH_BIN } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

/**
 * Real segments: Linux network namespaces for hosts, a bridge per segment inside a router namespace that routes
 * between them. Segment A is 192.0.2.0/24, segment B 198.51.100.0/24 (documentation ranges). Needs root and
 * iproute2, which .ci/run provides; elsewhere the test says loudly why it cannot run.
 */
function canRun (): string | undefined {
  if (process.getuid?.() !== 0) return 'it needs root to create network namespaces'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'iproute2 (the ip command) is not installed'
  }
  return undefined
}

const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }) }
const inNs = (ns: string, ...args: string[]): void => { ip('netns', 'exec', ns, ...args) }

interface Host { name: string, ns: string, addr: string, gw: string, bridge: string }

function buildSegments (t: TestContext): { hosts: Map<string, Host> } {
  const p = `cm${process.pid % 100000}`
  const router = `${p}-r`
  const namespaces = [router]
  t.after(() => { for (const ns of namespaces) { try { ip('netns', 'del', ns) } catch {} } })
  ip('netns', 'add', router)
  inNs(router, 'ip', 'link', 'set', 'lo', 'up')
  inNs(router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
  for (const [br, cidr] of [['brA', '192.0.2.1/24'], ['brB', '198.51.100.1/24']] as const) {
    inNs(router, 'ip', 'link', 'add', br, 'type', 'bridge')
    inNs(router, 'ip', 'addr', 'add', cidr, 'dev', br)
    inNs(router, 'ip', 'link', 'set', br, 'up')
  }
  const hosts = new Map<string, Host>()
  const plan: Array<[string, string, string, string]> = [
    ['a1', '192.0.2.11', '192.0.2.1', 'brA'], ['a2', '192.0.2.12', '192.0.2.1', 'brA'], ['a3', '192.0.2.13', '192.0.2.1', 'brA'],
    ['b1', '198.51.100.11', '198.51.100.1', 'brB'], ['b2', '198.51.100.12', '198.51.100.1', 'brB']
  ]
  for (const [name, addr, gw, bridge] of plan) {
    const ns = `${p}-${name}`
    namespaces.push(ns)
    ip('netns', 'add', ns)
    ip('link', 'add', `${p}${name}x`, 'type', 'veth', 'peer', 'name', `${p}${name}y`)
    ip('link', 'set', `${p}${name}x`, 'netns', router)
    ip('link', 'set', `${p}${name}y`, 'netns', ns)
    inNs(router, 'ip', 'link', 'set', `${p}${name}x`, 'master', bridge)
    inNs(router, 'ip', 'link', 'set', `${p}${name}x`, 'up')
    inNs(ns, 'ip', 'link', 'set', `${p}${name}y`, 'name', 'eth0')
    inNs(ns, 'ip', 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
    inNs(ns, 'ip', 'link', 'set', 'eth0', 'up')
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
    inNs(ns, 'ip', 'route', 'add', 'default', 'via', gw)
    inNs(ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'eth0') // mDNS multicast leaves by eth0
    hosts.set(name, { name, ns, addr, gw, bridge })
  }
  return { hosts }
}

describe('real network segments', () => {
  it('a new node finds the nodes of its segment by mDNS within 5 s and ranks them above the other segment', async t => {
    const why = canRun()
    if (why !== undefined) {
      console.error(`\n*** SKIPPING the network-namespace test: ${why} ***\n`)
      t.skip(why)
      return
    }
    const { hosts } = buildSegments(t)
    const dir = tempDir(t)
    const daemons: ChildProcess[] = []
    t.after(async () => {
      for (const d of daemons) if (d.exitCode === null) d.kill('SIGTERM')
      await Promise.all(daemons.map(async d => d.exitCode === null ? await once(d, 'exit') : undefined))
    })
    const addrs = new Map<string, { peerId: string, addrs: string[] }>()
    for (const name of ['a2', 'a3', 'b1', 'b2']) {
      const h = hosts.get(name)!
      const child = spawn('ip', ['netns', 'exec', h.ns, process.execPath, CMESH_BIN, 'daemon', '--repo', join(dir, name), '--json', '--listen', '/ip4/0.0.0.0/tcp/4001'], { stdio: ['ignore', 'pipe', 'inherit'] })
      daemons.push(child)
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
      const ready = JSON.parse(line) as { peerId: string, addrs: string[] }
      assert.ok(ready.addrs.every(a => !a.startsWith('/ip4/127.')), `no loopback address is announced: ${ready.addrs.join(' ')}`)
      addrs.set(name, ready)
    }
    // the newcomer in A knows the B nodes only by bootstrap address: mDNS does not cross the router
    const bootstrap = ['b1', 'b2'].flatMap(n => ['--bootstrap', `/ip4/${hosts.get(n)!.addr}/tcp/4001/p2p/${addrs.get(n)!.peerId}`])
    const out = execFileSync('ip', ['netns', 'exec', hosts.get('a1')!.ns, process.execPath, CMESH_BIN, 'peers', '--repo', join(dir, 'a1'), '--json', '--wait', '5', '--listen', '/ip4/0.0.0.0/tcp/4001', ...bootstrap], { encoding: 'utf8' })
    const peers = out.trim().split('\n').map(l => JSON.parse(l) as { peerId: string, segment: string, discoveredAfterMs?: number, rttMs?: number })
    const sameSegment = new Set(['a2', 'a3'].map(n => addrs.get(n)!.peerId))
    const otherSegment = new Set(['b1', 'b2'].map(n => addrs.get(n)!.peerId))
    assert.deepEqual(new Set(peers.map(p => p.peerId)), new Set([...sameSegment, ...otherSegment]), 'all four peers are known')
    for (const p of peers.slice(0, 2)) {
      assert.ok(sameSegment.has(p.peerId), 'the two same-segment peers rank first')
      assert.equal(p.segment, 'same')
      assert.ok(p.discoveredAfterMs !== undefined && p.discoveredAfterMs < 5000, `found by mDNS after ${p.discoveredAfterMs} ms`)
    }
    for (const p of peers.slice(2)) assert.equal(p.segment, 'other')
  })
})
