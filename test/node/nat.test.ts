import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, type CmeshNode, type NodeOptions } from '../../src/node/index.js'
import { peerReach } from '../../src/node/peers.js'
import { askHaves } from '../../src/sync/exchange/peer-requests.js'
import { collect, pseudoRandom, tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

async function node (t: TestContext, options: NodeOptions = {}): Promise<CmeshNode> {
  const n = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, peerExchange: false, ...options })
  t.after(async () => { await n.stop() })
  return n
}

/** The address a node holds a relay slot at, once its reservation is made. */
async function circuitOf (n: CmeshNode): Promise<string> {
  return await waitFor(() => n.addrs().find(a => a.includes('/p2p-circuit/')), { what: 'a relay reservation' })
}

/** The block protocol's have question, asked over this one connection (relayed allowed on the asking side). */
const asker = (conn: Connection): Parameters<typeof askHaves>[0] => ({
  dialProtocol: async (_peer, protocols, options) => await conn.newStream(protocols, options)
})

describe('homes behind NAT: circuit relay v2 on loopback', () => {
  it('reaches a home through its relay slot; blocks flow over a relayed connection only where both ends allow it', async t => {
    const relay = await node(t, { relay: 'server' })
    const home = await node(t, { relay: 'client', allowRelayedTransfers: true, bootstrap: [relay.addrs()[0]!] })
    const strictHome = await node(t, { relay: 'client', bootstrap: [relay.addrs()[0]!] })
    // each home reserved a slot on the relay it is connected to: it is dialable at a /p2p-circuit address
    const circuit = await circuitOf(home)
    assert.ok(circuit.startsWith(`${relay.addrs()[0]!}/p2p-circuit/p2p/${home.peerId.toString()}`), circuit)
    const dir = tempDir(t)
    const data = pseudoRandom(40_000, 21)
    writeFileSync(join(dir, 'f'), data)
    const { cid } = await home.add(join(dir, 'f'))
    await strictHome.add(join(dir, 'f'))

    const outside = await node(t, { relay: 'server', allowRelayedTransfers: true })
    const relayed = await outside.libp2p.dial(multiaddr(circuit))
    assert.notEqual(relayed.limits, undefined, 'a circuit connection carries the relay\'s limits')
    assert.equal(peerReach([relayed], false), 'relayed')
    // libp2p opens no stream of ours on a limited connection unless told to
    await assert.rejects(relayed.newStream('/cmesh/blocks/2.0.0'), { name: 'LimitedConnectionError' })
    assert.deepEqual((await askHaves(asker(relayed), home.peerId, [cid], undefined, true)).map(String), [cid.toString()])
    // a home that does not allow relayed transfers answers no block question over the relay
    const toStrict = await outside.libp2p.dial(multiaddr(await circuitOf(strictHome)))
    await assert.rejects(askHaves(asker(toStrict), strictHome.peerId, [cid], undefined, true))

    // the whole fetch, through the relay or over a direct connection that followed it
    const r = await outside.fetch(cid)
    const homes = [home.peerId.toString(), strictHome.peerId.toString()]
    assert.ok(Object.keys(r.sources).length > 0 && Object.keys(r.sources).every(p => homes.includes(p)), JSON.stringify(r.sources))
    // the strict home serves only once a direct connection has followed the relayed one (on loopback, nothing blocks it)
    if (r.sources[strictHome.peerId.toString()] !== undefined) {
      assert.ok(outside.libp2p.getConnections(strictHome.peerId).some(c => c.limits === undefined), 'the strict home served over a direct connection')
    }
    assert.deepEqual(await collect(outside.cat(cid)), Buffer.from(data))
    const seen = (await outside.peers({ pingTimeoutMs: 500 })).find(p => p.peerId === home.peerId.toString())
    assert.ok(seen?.reach === 'relayed' || seen?.reach === 'hole-punched', seen?.reach)
    // a direct connection alone, and one that followed a relayed one
    const direct = outside.libp2p.getConnections(relay.peerId)
    assert.equal(peerReach(direct, false), 'direct')
    assert.equal(peerReach(direct, true), 'hole-punched')
    assert.equal((await relay.peers({ pingTimeoutMs: 500 })).find(p => p.peerId === home.peerId.toString())?.reach, 'direct')
  })

  it('keeps the library cheap: no relay, AutoNAT, DCUtR or UPnP unless asked', async t => {
    const services = (n: CmeshNode): string[] => Object.keys(n.libp2p.services).filter(s => ['relay', 'autoNAT', 'dcutr', 'upnp', 'autoRelay'].includes(s)).sort()
    assert.deepEqual(services(await node(t)), [])
    assert.deepEqual(services(await node(t, { relay: 'client', upnp: true })), ['autoNAT', 'dcutr', 'upnp'])
    assert.deepEqual(services(await node(t, { relay: 'server' })), ['autoNAT', 'dcutr', 'relay'])
    // 'auto' runs what 'server' runs, and the service that finds out whether the node is behind NAT
    assert.deepEqual(services(await node(t, { relay: 'auto' })), ['autoNAT', 'autoRelay', 'dcutr', 'relay'])
  })
})
