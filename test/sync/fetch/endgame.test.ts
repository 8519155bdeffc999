import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Trading } from '../../../src/sync/fetch/fetch-interface.js'
import { block, blocks, key, parts } from './parts.js'

const pick = (ns: number[]): ReturnType<typeof blocks> => ns.map(block)

describe('the endgame: idle sources take over late requests', () => {
  const splits: Array<{ name: string, open: number, arrived?: number[], take: number[] }> = [
    { name: 'hands the far half of a late request to an idle source, taken back from the late one', open: 8, take: [4, 5, 6, 7] },
    { name: 'hands over the middle block too when the count is odd', open: 7, take: [3, 4, 5, 6] },
    { name: 'hands over the last block of a late request', open: 1, take: [0] },
    { name: 'leaves the blocks that came and wait to be stored with the late request', open: 6, arrived: [4, 5], take: [2, 3] }
  ]
  for (const row of splits) {
    it(row.name, t => {
      const p = parts(t, ['a', 'b'], { cancels: ['a'] })
      p.source('a').answeredIn(0.1, false)
      const late = p.requests.send(p.source('a'), blocks(0, row.open))
      for (const n of row.arrived ?? []) late.arrived.add(key(block(n)))
      p.clock.advance(200)
      assert.equal(p.requests.endgame(p.clock.now(), p.session.fastest()), p.clock.now() + 50, 'it looks again in 50 ms')
      assert.deepEqual(p.askedOf('b'), [pick(row.take)], 'the idle source asked for the far half')
      assert.deepEqual(p.cancelled.get('a'), pick(row.take), 'taken back from the late source at once')
      const kept = blocks(0, row.open).filter(c => !row.take.some(n => block(n).equals(c)))
      assert.deepEqual(p.requests.kept(late), kept, 'the late request keeps the near half')
      assert.deepEqual([...late.open.values()], kept)
      assert.equal(p.session.result.stolen, 1)
      assert.equal(p.session.result.duplicates, 0, 'nothing is asked twice')
      assert.deepEqual(p.events, [{ type: 'fetch:endgame', source: 'b', blocks: row.open }])
    })
  }

  const lateness: Array<{ name: string, usual: Record<string, number>, stalled?: boolean, lateAfter: number }> = [
    { name: 'calls a request late at twice its source\'s usual time', usual: { a: 0.2, b: 0.1 }, lateAfter: 400 },
    { name: 'calls a request late at twice the fastest source\'s time, if that is longer', usual: { b: 0.15 }, lateAfter: 300 },
    { name: 'calls a request late after 100 ms at the soonest', usual: {}, lateAfter: 100 },
    { name: 'calls a request to a stalled source late at once', usual: { a: 0.2 }, stalled: true, lateAfter: 0 }
  ]
  for (const row of lateness) {
    it(row.name, t => {
      const p = parts(t, ['a', 'b'], { cancels: ['a'] })
      for (const [id, seconds] of Object.entries(row.usual)) p.source(id).answeredIn(seconds, false)
      if (row.stalled === true) p.source('a').stalled = true
      p.requests.send(p.source('a'), blocks(0, 4))
      if (row.lateAfter > 0) {
        p.clock.advance(row.lateAfter - 1)
        p.requests.endgame(p.clock.now(), p.session.fastest())
        assert.deepEqual(p.askedOf('b'), [], 'not late 1 ms early')
        p.clock.advance(1)
      }
      p.requests.endgame(p.clock.now(), p.session.fastest())
      assert.equal(p.askedOf('b').length, 1)
    })
  }

  it('races a request to a stalled source instead: it may never answer a cancel', t => {
    const p = parts(t, ['a', 'b'], { cancels: ['a'] })
    p.source('a').stalled = true
    const late = p.requests.send(p.source('a'), blocks(0, 4))
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.deepEqual(p.askedOf('b'), [blocks(0, 4).reverse()])
    assert.equal(p.cancelled.get('a'), undefined)
    assert.equal(late.raced, true)
  })

  it('races a late request that cannot be taken back, asking for its blocks from the far end', t => {
    const p = parts(t, ['a', 'b'])
    const late = p.requests.send(p.source('a'), blocks(0, 4))
    p.clock.advance(100)
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.deepEqual(p.askedOf('b'), [blocks(0, 4).reverse()])
    assert.equal(late.open.size, 4, 'the late request still asks for all of them: the first to deliver wins')
    assert.equal(late.raced, true)
    assert.equal(p.session.result.duplicates, 1)
    assert.equal(p.session.result.stolen, 0)
  })

  it('races rather than steals when the idle source has lacked blocks of this DAG', t => {
    const p = parts(t, ['a', 'b'], { cancels: ['a'] })
    p.source('b').lacked = true // taken and then refused, blocks would wait at the back of the queue
    p.requests.send(p.source('a'), blocks(0, 4))
    p.clock.advance(100)
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.deepEqual(p.askedOf('b'), [blocks(0, 4).reverse()])
    assert.equal(p.cancelled.get('a'), undefined)
    assert.deepEqual([p.session.result.duplicates, p.session.result.stolen], [1, 0])
  })

  it('splits a late request again for each idle source: each takes the far half of what is left', t => {
    const p = parts(t, ['a', 'b', 'c'], { cancels: ['a'] })
    const late = p.requests.send(p.source('a'), blocks(0, 8))
    p.clock.advance(100)
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.deepEqual(p.askedOf('b'), [blocks(4, 8)])
    assert.deepEqual(p.askedOf('c'), [blocks(2, 4)])
    assert.deepEqual(p.requests.kept(late), blocks(0, 2))
    assert.equal(p.session.result.stolen, 2)
  })

  it('serves the oldest late request first', t => {
    const p = parts(t, ['a', 'x', 'b'], { cancels: ['a', 'x'] })
    p.requests.send(p.source('x'), blocks(10, 12))
    p.clock.advance(10)
    p.requests.send(p.source('a'), blocks(0, 2))
    p.clock.advance(100)
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.deepEqual(p.askedOf('b'), [[block(11)]])
  })

  it('gives a late request to no source that is busy, stalled, or lacks any of its blocks', t => {
    const p = parts(t, ['a', 'busy', 'stalled', 'lacking'], { cancels: ['a'] })
    p.source('busy').sent()
    p.source('stalled').stalled = true
    p.session.holders.lack(key(block(3)), 'lacking')
    p.requests.send(p.source('a'), blocks(0, 4))
    p.clock.advance(1000)
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.equal(p.sent.length, 1, 'nobody took any of it')
    assert.deepEqual(p.events, [])
  })

  it('hands a downloader that refused blocks before the far half of those of a late request it told it holds since', t => {
    // what downloader d told of its holdings (a have after its refusal): blocks 5 and 6
    const claims = new Set([key(block(5)), key(block(6))])
    const trading: Trading = {
      file: () => {},
      joined: () => {},
      verified: () => {},
      holds: (source, k) => source === 'd' ? claims.has(k) : undefined,
      denied: () => {},
      version: 0,
      close: () => {}
    }
    const p = parts(t, ['a', 'd'], { cancels: ['a'], fetch: { trading } })
    p.source('a').answeredIn(0.1, false)
    // a steal asked d for block 3 before it had it: it refused
    p.session.holders.lack(key(block(3)), 'd')
    p.source('d').lacked = true
    const late = p.requests.send(p.source('a'), blocks(0, 8))
    p.clock.advance(200)
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.deepEqual(p.askedOf('d'), [pick([6])], 'd asked for what it holds, though it lacked block 3')
    assert.deepEqual(p.cancelled.get('a'), pick([6]), 'taken back from the late source')
    assert.deepEqual([...late.open.values()], pick([0, 1, 2, 3, 4, 5, 7]))
    assert.equal(p.session.result.stolen, 1)
    // without a claim, a source that refused one of its blocks is given none of a late request
    claims.clear()
    p.requests.send(p.source('a'), blocks(10, 14))
    p.session.holders.lack(key(block(12)), 'd')
    p.clock.advance(1000)
    p.source('d').settled()
    p.requests.endgame(p.clock.now(), p.session.fastest())
    assert.equal(p.askedOf('d').length, 1, 'nothing more for d')
  })

  it('gives back, when a split late request fails, only the blocks it kept', async t => {
    const p = parts(t, ['a', 'b'], { cancels: ['a'] })
    const late = p.requests.send(p.source('a'), blocks(0, 8))
    p.clock.advance(100)
    p.requests.endgame(p.clock.now(), p.session.fastest())
    await p.requests.giveBack(late, p.requests.kept(late))
    assert.equal(p.wants.size, 4, 'the thief\'s half stays the thief\'s')
    assert.deepEqual(p.wants.top(), block(3))
  })
})
