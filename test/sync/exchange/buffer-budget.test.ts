import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { noise } from '@libp2p/noise'
import { tcp, type TCPSocketOptions } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { createLibp2p } from 'libp2p'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { BufferBudget, type BudgetAccount } from '../../../src/sync/exchange/buffer-budget.js'
import { BLOCKS_PROTOCOL, FRAME_PIECE_BYTES, MAX_MESSAGE_BYTES } from '../../../src/sync/exchange/constants.js'
import { encodeFrame, framedLength, readFrames, SendQueue } from '../../../src/sync/exchange/framing.js'
import { collect, pseudoRandom, tempDir } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'
import { leb128 } from '../../helpers/varint.js'

const MiB = 1024 * 1024

/** The varint length prefix of a frame of `n` bytes, alone. */
const prefixOf = (n: number): Uint8Array => Uint8Array.from(leb128(n))

/** A source whose pieces the test pushes one by one, then ends. */
function channel (): { source: AsyncIterable<Uint8Array>, push: (b: Uint8Array) => void, end: () => void } {
  const queue: Array<Uint8Array | null> = []
  let wake: (() => void) | undefined
  return {
    source: (async function * () {
      for (;;) {
        while (queue.length === 0) await new Promise<void>(resolve => { wake = resolve })
        const b = queue.shift()!
        if (b === null) return
        yield b
      }
    })(),
    push: b => { queue.push(b); wake?.() },
    end: () => { queue.push(null); wake?.() }
  }
}

describe('buffer budget', () => {
  it('grants what fits, counts it by peer and gives it all back when accounts close', () => {
    const budget = new BufferBudget({ limit: 1000 })
    const a1 = budget.open('a')
    const a2 = budget.open('a')
    const b = budget.open('b')
    assert.ok(a1.reserve(300))
    assert.ok(a2.reserve(200))
    assert.ok(b.reserve(100))
    assert.equal(budget.used, 600)
    assert.equal(budget.usage('a'), 500)
    assert.equal(budget.usage('b'), 100)
    assert.equal(budget.peerCount, 2)
    a1.release(100)
    assert.equal(budget.usage('a'), 400)
    a1.release(10_000) // never more than it holds
    assert.equal(a1.held, 0)
    assert.equal(budget.used, 300)
    a2.close()
    b.close()
    assert.equal(budget.used, 0)
    a1.close()
    // nothing keyed by a peer is kept once its streams are gone
    assert.equal(budget.peerCount, 0)
    assert.equal(budget.usage('a'), 0)
    assert.equal(budget.peak, 600)
    // a closed account grants nothing and gives back nothing twice
    assert.equal(a1.reserve(1), false)
    a1.release(5)
    a1.close()
    assert.equal(budget.used, 0)
  })

  it('resets the peer over its share when the budget is spent, never one within its share', () => {
    const evicted: string[] = []
    const budget = new BufferBudget({ limit: 1000, onEvict: peer => { evicted.push(peer) } })
    const revoked: string[] = []
    // an attacker fills the budget over many streams
    const attacker = Array.from({ length: 10 }, (_, i) => budget.open('attacker', err => { revoked.push(`${i}:${err.code}`) }))
    for (const a of attacker) assert.ok(a.reserve(100))
    assert.equal(budget.used, 1000)
    // an honest requester with one small frame is granted: the attacker, far over its share (500), is reset
    const honest = budget.open('honest')
    assert.ok(honest.reserve(40))
    assert.deepEqual(evicted, ['attacker'])
    assert.equal(revoked.length, 10)
    assert.ok(revoked.every(r => r.endsWith(':ERR_BUFFER_BUDGET')))
    assert.equal(budget.used, 40)
    assert.equal(budget.usage('attacker'), 0)
    assert.equal(budget.evictions, 1)
    // its accounts are dead: they grant nothing more, and giving back changes nothing
    assert.ok(attacker.every(a => a.revoked && !a.reserve(1)))
    attacker[0]!.release(100)
    for (const a of attacker) a.close()
    assert.equal(budget.used, 40)
    assert.equal(budget.peerCount, 1)
    // it comes back and asks for more than the budget can take beside the honest peer: it is the one over its share
    const again = budget.open('attacker', () => { revoked.push('again') })
    assert.ok(again.reserve(900))
    assert.equal(again.reserve(100), false)
    assert.deepEqual(evicted, ['attacker', 'attacker'])
    assert.ok(revoked.includes('again'))
    assert.equal(honest.held, 40)
    assert.equal(budget.used, 40)
    assert.ok(budget.peak <= budget.limit)
  })

  it('keeps used within the limit, and grants every reservation that stays within its share (property)', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('open' as const), peer: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ k: fc.constant('reserve' as const), i: fc.nat(), n: fc.integer({ min: 0, max: 600 }) }),
      fc.record({ k: fc.constant('release' as const), i: fc.nat(), n: fc.integer({ min: 0, max: 600 }) }),
      fc.record({ k: fc.constant('close' as const), i: fc.nat() })
    )
    fc.assert(fc.property(fc.integer({ min: 100, max: 2000 }), fc.array(op, { maxLength: 80 }), (limit, ops) => {
      const budget = new BufferBudget({ limit })
      const accounts: BudgetAccount[] = []
      for (const o of ops) {
        if (o.k === 'open') {
          accounts.push(budget.open(`p${o.peer}`))
          continue
        }
        const a = accounts[o.i % Math.max(1, accounts.length)]
        if (a === undefined) continue
        if (o.k === 'reserve') {
          const within = budget.usage(a.peer) + o.n <= budget.share(a.peer)
          const open = !a.revoked && a.reserve(0)
          const granted = a.reserve(o.n)
          if (open && within) assert.ok(granted, `a reservation of ${o.n} within the share ${budget.share(a.peer)} was refused`)
        } else if (o.k === 'release') {
          a.release(o.n)
        } else {
          a.close()
        }
        assert.ok(budget.used <= limit)
        assert.equal(budget.used, accounts.reduce((sum, x) => sum + x.held, 0))
      }
      for (const a of accounts) a.close()
      assert.equal(budget.used, 0)
      assert.equal(budget.peerCount, 0)
      assert.ok(budget.peak <= limit)
    }), { numRuns: 300 })
  })
})

describe('frames charged to a budget', () => {
  it('charges a frame as its bytes arrive and gives them back once it is consumed', async () => {
    const budget = new BufferBudget({ limit: 10_000 })
    const account = budget.open('p')
    const ch = channel()
    const frames = readFrames(ch.source, 1000, account)
    const first = frames.next()
    const payload = pseudoRandom(500, 3)
    const wire = encodeFrame(payload)
    ch.push(wire.subarray(0, 2 + 100)) // the prefix and 100 bytes: charged before the frame is whole, with the piece
    await waitFor(() => account.held === 100 + FRAME_PIECE_BYTES, { what: 'the partial frame charged' })
    ch.push(wire.subarray(102))
    const got = await first
    assert.deepEqual(Buffer.from(got.value!), Buffer.from(payload))
    assert.equal(account.held, 500, 'the frame is charged while the consumer has it, its pieces no longer')
    const second = frames.next()
    await waitFor(() => account.held === 0, { what: 'the consumed frame given back' })
    // a frame left half sent when the stream ends: an error, and nothing stays charged
    ch.push(encodeFrame(new Uint8Array(800)).subarray(0, 300))
    await waitFor(() => account.held > 0, { what: 'the second partial frame charged' })
    ch.end()
    await assert.rejects(second, { code: 'ERR_PROTOCOL' })
    assert.equal(account.held, 0)
    assert.equal(budget.used, 0)
  })

  it('ends the stream when the budget refuses a piece, and gives back what it held', async () => {
    const budget = new BufferBudget({ limit: 1000 })
    const account = budget.open('p')
    const ch = channel()
    const frames = readFrames(ch.source, 4000, account)
    const next = frames.next()
    ch.push(prefixOf(3000))
    ch.push(new Uint8Array(600))
    await waitFor(() => account.held === 600 + FRAME_PIECE_BYTES)
    ch.push(new Uint8Array(600))
    await assert.rejects(next, { code: 'ERR_BUFFER_BUDGET' })
    assert.equal(budget.used, 0)
    // a frame trickled a byte at a time costs a piece per byte: it is charged so, and refused as soon
    const trickled = budget.open('r')
    const ch2 = channel()
    const slow = readFrames(ch2.source, 4000, trickled).next()
    ch2.push(prefixOf(3000))
    let sent = 0
    const refused = assert.rejects(slow, { code: 'ERR_BUFFER_BUDGET' })
    while (!trickled.revoked) {
      ch2.push(Uint8Array.of(sent++))
      await waitFor(() => trickled.revoked || trickled.held === sent * (1 + FRAME_PIECE_BYTES), { what: 'a byte charged' })
    }
    await refused
    assert.ok(sent <= Math.ceil(1000 / (1 + FRAME_PIECE_BYTES)), `refused after ${sent} bytes`)
    assert.equal(budget.used, 0)
    // a consumer that stops early gives back the frame it holds
    const other = budget.open('q')
    const it = readFrames([encodeFrame(new Uint8Array(300)), encodeFrame(new Uint8Array(300))], 1000, other)
    for await (const f of it) { assert.equal(f.length, 300); assert.equal(other.held, 300); break }
    assert.equal(other.held, 0)
  })

  it('charges a frame to send until it has left the stream\'s send queue', async () => {
    const budget = new BufferBudget({ limit: 4 * MiB })
    const account = budget.open('p')
    /** A stream whose send queue empties when the test says. */
    class QueueStream extends EventTarget {
      writeBufferLength = 0
      send (b: Uint8Array): boolean { this.writeBufferLength += b.length; return true }
      drained (): void { this.writeBufferLength = 0; this.dispatchEvent(new Event('idle')) }
    }
    const stream = new QueueStream()
    const out = new SendQueue(stream as never, account)
    await out.send(new Uint8Array(100))
    assert.equal(account.held, framedLength(100), 'queued, not yet sent')
    stream.drained()
    assert.equal(account.held, 0)
    // a large frame waits for the queue to drain below its high-water mark, charged all along
    const big = out.send(new Uint8Array(2 * MiB))
    assert.equal(account.held, framedLength(2 * MiB))
    stream.drained()
    await big
    assert.equal(account.held, 0)
    // one the budget refuses is not sent
    await assert.rejects(out.send(new Uint8Array(5 * MiB)), { code: 'ERR_BUFFER_BUDGET' })
    assert.equal(stream.writeBufferLength, 0)
    assert.equal(budget.used, 0)
  })
})

/**
 * The attack: on each of `connections` new connections (one identity may open several), `streams` block-protocol
 * streams, each announcing a maximal frame (MAX_MESSAGE_BYTES) and sending `bytes` of it, then nothing more. Without
 * a budget the victim keeps every partial frame until the attacker leaves: connections x streams x bytes.
 */
async function attack (attacker: Libp2p, addr: string, connections: number, streams: number, bytes: number): Promise<Stream[]> {
  const opened: Stream[] = []
  for (let c = 0; c < connections; c++) {
    const conn = await attacker.dial(multiaddr(addr), { force: true })
    for (let s = 0; s < streams; s++) {
      try {
        const stream = await conn.newStream(BLOCKS_PROTOCOL)
        stream.send(prefixOf(MAX_MESSAGE_BYTES))
        stream.send(new Uint8Array(bytes).fill(s))
        opened.push(stream)
      } catch {} // the victim already closed this connection
    }
  }
  return opened
}

/**
 * A bare libp2p node that speaks the block protocol badly. It dials from its own loopback address: libp2p takes at
 * most five new connections a second from one host, and the attackers and the honest peer are several hosts.
 */
async function startAttacker (t: TestContext, ip: string): Promise<Libp2p> {
  const dialOpts: Record<string, unknown> = { localAddress: ip }
  const node = await createLibp2p({ transports: [tcp({ dialOpts: dialOpts as TCPSocketOptions })], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  t.after(async () => await node.stop())
  return node
}

async function startNode (t: TestContext, bootstrap: string[] = []): Promise<CmeshNode> {
  const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap })
  t.after(async () => await node.stop())
  return node
}

/**
 * Before the budget, a daemon held every partial frame: the first test shows 12 MiB held for one connection with the
 * limit lifted (the counter the budget exposes, which enforces nothing at Infinity). The second fails on that code:
 * with nothing enforced the attackers are never reset ('the attackers disconnected' times out) and the 8 MiB limit
 * is passed by the 48 MiB offered.
 */
describe('a daemon under a partial-frame attack', () => {
  const LIMIT = 8 * MiB
  /** 16 streams x 768 KiB: one connection alone offers 12 MiB, more than the 8 MiB budget. */
  const STREAMS = 16
  const BYTES = 768 * 1024

  it('without a limit holds every partial frame until the attacker leaves (as before the budget)', async t => {
    const victim = await startNode(t)
    victim.blocks.budget.limit = Infinity // accounting only: what the daemon held before it had a budget
    const attacker = await startAttacker(t, '127.0.31.1')
    const streams = await attack(attacker, victim.addrs()[0]!, 1, STREAMS, BYTES)
    assert.equal(streams.length, STREAMS)
    await waitFor(() => victim.blocks.budget.used >= STREAMS * BYTES, { what: 'every partial frame buffered' })
    // 12 MiB buffered for one connection: an 8 MiB limit would have been passed, and nothing was reset
    assert.ok(victim.blocks.budget.used > LIMIT)
    assert.equal(victim.blocks.budget.evictions, 0)
    assert.ok(streams.every(s => s.status === 'open'))
    // the buffers go when the attacker does
    await attacker.stop()
    await waitFor(() => victim.blocks.budget.used === 0 && victim.blocks.budget.peerCount === 0, { what: 'the buffers given back' })
  })

  it('stays within its budget, resets the attackers, gives all back when they leave, and still serves an honest peer', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(1_500_000, 71)
    const data2 = pseudoRandom(700_000, 72)
    writeFileSync(join(dir, 'f'), data)
    writeFileSync(join(dir, 'f2'), data2)
    const victim = await startNode(t)
    const budget = victim.blocks.budget
    budget.limit = LIMIT
    const { cid } = await victim.add(join(dir, 'f'))
    const { cid: cid2 } = await victim.add(join(dir, 'f2'))
    const addr = victim.addrs()[0]!
    const honest = await startNode(t, [addr])
    const attackers = [await startAttacker(t, '127.0.32.1'), await startAttacker(t, '127.0.33.1')]

    // two identities, two connections each, sixteen half-sent 4 MiB frames a connection: 48 MiB offered, while
    // the honest peer downloads a file
    const [streams, fetched] = await Promise.all([
      Promise.all(attackers.map(async a => await attack(a, addr, 2, STREAMS, BYTES))),
      honest.fetch(cid)
    ])
    assert.ok(fetched.fetchedBlocks > 0)
    assert.deepEqual(await collect(honest.cat(cid)), Buffer.from(data))
    const offered = streams.flat().length * BYTES
    assert.ok(offered > 2 * LIMIT, `the attack offered ${offered} bytes`)

    // every attacker is reset: its streams aborted, its connections closed, a strike against it
    await waitFor(() => attackers.every(a => victim.libp2p.getConnections(a.peerId).length === 0), { what: 'the attackers disconnected' })
    await waitFor(() => streams.flat().every(s => s.status !== 'open'), { what: 'every attacker stream reset' })
    for (const a of attackers) assert.ok(victim.blocks.flood.strikes(a.peerId.toString()) >= 1)
    assert.ok(budget.evictions >= attackers.length)
    // the honest peer was not: still connected, no strike
    assert.ok(victim.libp2p.getConnections(honest.peerId).length > 0)
    assert.equal(victim.blocks.flood.strikes(honest.peerId.toString()), 0)

    // one comes back for more: reset again, while the honest peer downloads another file
    const [again] = await Promise.all([attack(attackers[0]!, addr, 1, STREAMS, BYTES), honest.fetch(cid2)])
    assert.deepEqual(await collect(honest.cat(cid2)), Buffer.from(data2))
    await waitFor(() => again.every(s => s.status !== 'open'), { what: 'the returning attacker reset' })
    assert.ok(victim.blocks.flood.strikes(attackers[0]!.peerId.toString()) >= 2)

    // all is given back once the attackers are gone and the honest download is over
    for (const a of attackers) await a.stop()
    await waitFor(() => budget.used === 0 && budget.peerCount === 0, { what: 'the budget empty again' })
    // the most it ever held: within the limit, though the attack offered several times as much
    assert.ok(budget.peak <= LIMIT, `peak ${budget.peak} over the limit ${LIMIT}`)
    assert.ok(budget.peak > 0)
  })
})
