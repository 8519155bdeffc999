import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { health } from '../../src/analytics/index.js'
import { monitorSource } from '../../src/analytics/node-hooks.js'
import { createHost } from '../../src/node/host.js'
import { createNode, type CmeshNode, type NodeOptions } from '../../src/node/index.js'
import type { AutoRelay } from '../../src/sync/net/index.js'
import { tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const HOP = '/libp2p/circuit/relay/0.2.0/hop'

async function node (t: TestContext, options: NodeOptions = {}): Promise<CmeshNode> {
  const n = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, peerExchange: false, ...options })
  t.after(async () => { await n.stop() })
  return n
}

describe("relay mode 'auto' on loopback", () => {
  it('a node its peers see at its own address stays a relay and a DHT server, and reserves no slot', async t => {
    const relay = await node(t, { relay: 'server' })
    const other = await node(t, { relay: 'server', listen: ['/ip4/127.0.0.3/tcp/0'] })
    const auto = await node(t, { relay: 'auto', dht: 'server', bootstrap: [relay.addrs()[0]!, other.addrs()[0]!] })
    assert.equal(relay.nat(), undefined, "only relay mode 'auto' decides anything")
    // both peers told it, over identify, that they saw it at 127.0.0.1: one of its own addresses
    const nat = await waitFor(() => { const s = auto.nat(); return s?.untranslated === 2 ? s : undefined }, { what: 'two peers\' observations' })
    assert.deepEqual(nat, { verdict: 'direct', translated: 0, untranslated: 2, reserving: false, reservations: 0 })
    assert.ok(auto.libp2p.getProtocols().includes(HOP), 'it offers a relay')
    assert.equal((auto.libp2p.services as { dht: KadDHT }).dht.getMode(), 'server')
    assert.ok(auto.addrs().every(a => !a.includes('/p2p-circuit')), auto.addrs().join(' '))
    assert.deepEqual(health(monitorSource(auto)).nat, nat, '/health says it')
    assert.equal(health(monitorSource(relay)).nat, undefined)
  })

  it('a node its peers see at an address not its own stops offering a relay, asks the DHT only, and reserves a slot', async t => {
    const relay = await node(t, { relay: 'server' })
    const other = await node(t, { relay: 'server', listen: ['/ip4/127.0.0.3/tcp/0'] })
    // a stand-in for a NAT on loopback: the home listens on 127.0.0.2, and its connections out leave from 127.0.0.1,
    // which it is told is not one of its interfaces (it is, on loopback: every interface is given as none)
    const home: Libp2p = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.2/tcp/0'],
      mdns: false,
      banned: new Set(),
      dht: 'server',
      relay: 'auto',
      autoRelay: { interfaceIps: () => [] }
    })
    t.after(async () => { await home.stop() })
    const service = (home.services as { autoRelay: AutoRelay }).autoRelay
    assert.ok(home.getProtocols().includes(HOP), 'it offers a relay until it knows better')
    await home.dial(multiaddr(relay.addrs()[0]!))
    await home.dial(multiaddr(other.addrs()[0]!))
    const status = await waitFor(() => { const s = service.status(); return s.reservations > 0 ? s : undefined }, { what: 'a relay slot' })
    assert.deepEqual(status, { verdict: 'behind-nat', translated: 2, untranslated: 0, reserving: true, reservations: 1 })
    assert.ok(!home.getProtocols().includes(HOP), 'a relay behind NAT would be unreachable: it no longer offers one')
    assert.equal((home.services as { dht: KadDHT }).dht.getMode(), 'client', 'it cannot be dialled to answer DHT queries')
    // dialable through the relay it reserved on, by a node that never had a connection to it
    const circuit = await waitFor(() => home.getMultiaddrs().find(a => a.toString().includes('/p2p-circuit/')), { what: 'a circuit address' })
    const outside = await node(t, { relay: 'server' })
    const conn = await outside.libp2p.dial(circuit)
    assert.equal(conn.remotePeer.toString(), home.peerId.toString())
    assert.notEqual(conn.limits, undefined, 'through the relay')
  })
})
