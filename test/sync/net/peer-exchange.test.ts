import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { createHost } from '../../../src/node/host.js'
import { PEX_INBOUND_DIAL_DELAY_MS } from '../../../src/sync/net/constants.js'
import { PeerExchange, type PexScheduler } from '../../../src/sync/net/peer-exchange.js'
import { waitFor } from '../../helpers/wait.js'

/** A host as a node builds it, with peer exchange whose deferred dials wait in `queue` until the test runs them. */
async function peer (t: TestContext, queue: Job[], who = ''): Promise<{ host: Libp2p, pex: PeerExchange }> {
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, banned: new Set() })
  const schedule: PexScheduler = (run, ms) => {
    const job = { run, ms, cancelled: false, who }
    queue.push(job)
    return () => { job.cancelled = true }
  }
  const pex = new PeerExchange(host, { schedule })
  await pex.start()
  t.after(async () => {
    await pex.stop()
    await host.stop()
  })
  return { host, pex }
}

const connected = (a: Libp2p, b: Libp2p): boolean => a.getConnections(b.peerId).length > 0

type Job = { run: () => void, ms: number, cancelled: boolean, who: string }
type Peer = Awaited<ReturnType<typeof peer>>

/** a and b, and a hub that dialled both: their questions to the hub, and the dials of its answers, wait in `queue`. */
async function hubOfTwo (t: TestContext): Promise<{ queue: Job[], a: Peer, b: Peer, hub: Peer }> {
  const queue: Job[] = []
  const [a, b, hub] = [await peer(t, queue, 'a'), await peer(t, queue, 'b'), await peer(t, queue, 'hub')]
  await hub.host.dial(a.host.getMultiaddrs()[0]!)
  await hub.host.dial(b.host.getMultiaddrs()[0]!)
  await waitFor(() => queue.length >= 2, { what: 'the questions of a and b to the hub that dialled them to wait' })
  return { queue, a, b, hub }
}

describe('peer exchange', () => {
  it('a newcomer dials what its bootstrap peers tell it at once; the peers it dialled meet later, after a random wait', async t => {
    const { queue, a, b, hub } = await hubOfTwo(t)
    for (const job of queue) {
      assert.ok(job.ms >= PEX_INBOUND_DIAL_DELAY_MS && job.ms <= 2 * PEX_INBOUND_DIAL_DELAY_MS, `waits ${job.ms} ms`)
    }
    assert.ok(!connected(a.host, b.host), 'no dial before the wait is over')
    // a newcomer dials the hub: it hears of a and b and dials both without waiting
    const newcomer = await peer(t, queue)
    await newcomer.host.dial(hub.host.getMultiaddrs()[0]!)
    await waitFor(() => connected(newcomer.host, a.host) && connected(newcomer.host, b.host), { what: 'the newcomer to dial the peers the hub told it of' })
    assert.ok(!connected(a.host, b.host), 'a and b still have not dialled each other')
    // the waits are over: a and b dial each other (one connection is enough; the second finds it there)
    for (const job of queue.splice(0)) job.run()
    await waitFor(() => connected(a.host, b.host), { what: 'a and b to meet once their wait is over' })
  })

  it('asks a peer that dialled it once the wait is over, so it hears of the peers that came meanwhile', async t => {
    const { queue, a, hub } = await hubOfTwo(t)
    const late = await peer(t, queue, 'late')
    await hub.host.dial(late.host.getMultiaddrs()[0]!)
    await waitFor(() => queue.some(job => job.who === 'late'), { what: "the late peer's question to the hub to wait" })
    // only a's wait ends: a asks the hub now, and the hub knows the late peer by then
    for (const job of queue.filter(job => job.who === 'a')) job.run()
    await waitFor(() => connected(a.host, late.host), { what: 'a to dial the peer that came during its wait' })
  })

  it('stops dialling at maxConnections, and newcomers told of the same peers do not all dial the same ones', async t => {
    const queue: Job[] = []
    const hub = await peer(t, queue)
    const others = await Promise.all(Array.from({ length: 10 }, async () => await peer(t, queue)))
    for (const o of others) await hub.host.dial(o.host.getMultiaddrs()[0]!)
    const chosen: string[] = []
    // four: a fifth inbound connection within a second from one address is over libp2p's threshold
    for (let i = 0; i < 4; i++) {
      const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, banned: new Set() })
      t.after(async () => await host.stop())
      // not started: this newcomer asks only when told to, so the one ask below is all it dials from
      const pex = new PeerExchange(host, { maxConnections: 3 })
      await host.dial(hub.host.getMultiaddrs()[0]!)
      const told = await pex.ask(hub.host.peerId)
      assert.ok(told.length >= 10, 'the hub told it of the ten (and the newcomers before it)')
      const peers = host.getPeers().filter(p => !p.equals(hub.host.peerId)).map(String).sort()
      assert.equal(peers.length, 2, 'two dials, then the cap of three connections stops it')
      chosen.push(peers.join())
    }
    // in the hub's order every newcomer would dial the same two; shuffled, four alike has odds under 1 in 45^3
    assert.ok(new Set(chosen).size > 1, `every newcomer dialled the same peers: ${chosen[0]}`)
  })

  it('stopping cancels the dials still waiting', async t => {
    const { queue, a } = await hubOfTwo(t)
    await a.pex.stop()
    assert.ok(queue.some(job => job.cancelled), "a's waiting dial was cancelled")
  })
})
