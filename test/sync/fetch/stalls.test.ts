import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { block, blocks, key, parts } from './parts.js'

describe('stall detection: a request that delivers nothing for too long', () => {
  const rows: Array<{ name: string, usual: Record<string, number>, stallsAfter: number }> = [
    { name: 'calls a request to a quick source stalled after 750 ms of silence, never sooner', usual: { a: 0.1, b: 0.1 }, stallsAfter: 750 },
    { name: 'calls a request stalled after 4 times its source\'s usual time', usual: { a: 0.5, b: 0.1 }, stallsAfter: 2000 },
    { name: 'times a source that has not answered yet by the fastest source', usual: { b: 0.25 }, stallsAfter: 1000 },
    { name: 'never calls a request stalled while no source has answered anything', usual: {}, stallsAfter: Number.POSITIVE_INFINITY }
  ]
  for (const row of rows) {
    it(row.name, t => {
      const p = parts(t, ['a', 'b'])
      for (const [id, seconds] of Object.entries(row.usual)) p.source(id).answeredIn(seconds, false)
      const t0 = p.clock.now()
      const o = p.requests.send(p.source('a'), blocks(0, 3))
      assert.equal(p.stalls.due(o, p.session.fastest()), t0 + row.stallsAfter)
      assert.equal(p.stalls.next(p.session.fastest()), t0 + row.stallsAfter, 'the fetch wakes when it would stall')
      if (Number.isFinite(row.stallsAfter)) {
        p.clock.advance(row.stallsAfter - 1)
        p.stalls.find(p.clock.now(), p.session.fastest())
        assert.equal(o.stalled, false, 'not stalled 1 ms early')
        assert.equal(p.source('a').stalled, false)
        p.clock.advance(1)
      } else {
        p.clock.advance(3_600_000)
      }
      p.stalls.find(p.clock.now(), p.session.fastest())
      const stalled = Number.isFinite(row.stallsAfter)
      assert.equal(o.stalled, stalled)
      assert.equal(p.source('a').stalled, stalled)
      assert.deepEqual(p.events, stalled ? [{ type: 'fetch:stalled', source: 'a', blocks: 3 }] : [])
    })
  }

  it('counts the silence from the last blocks a request delivered', t => {
    const p = parts(t, ['a'])
    p.source('a').answeredIn(0.1, false)
    const o = p.requests.send(p.source('a'), blocks(0, 3))
    p.clock.advance(600)
    o.progressAt = p.clock.now() // blocks of a long answer came
    p.clock.advance(600)
    p.stalls.find(p.clock.now(), p.session.fastest())
    assert.equal(o.stalled, false, '1.2 s out, but only 600 ms silent')
    p.clock.advance(150)
    p.stalls.find(p.clock.now(), p.session.fastest())
    assert.equal(o.stalled, true)
  })

  it('stalls every request of a silent source with it, reports the source once with all their blocks, and expects it to be that slow', t => {
    const p = parts(t, ['a', 'b'])
    p.source('a').answeredIn(0.1, false)
    p.source('b').answeredIn(0.1, false)
    const first = p.requests.send(p.source('a'), blocks(0, 3))
    p.clock.advance(500)
    const second = p.requests.send(p.source('a'), blocks(3, 5))
    const other = p.requests.send(p.source('b'), blocks(5, 6))
    p.clock.advance(250)
    p.stalls.find(p.clock.now(), p.session.fastest())
    assert.equal(first.stalled, true)
    assert.equal(second.stalled, true, 'it waits on the same silent source')
    assert.equal(other.stalled, false, 'another source\'s request is on its own time')
    assert.deepEqual(p.events, [{ type: 'fetch:stalled', source: 'a', blocks: 5 }])
    assert.equal(p.source('a').secondsPerRequest, 0.75, 'its next request is given as long as the stalled one waited')
    // its one-block probe stalls too: the source is still the one found stalled, not reported again
    const probe = p.requests.send(p.source('a'), blocks(6, 7))
    p.clock.advance(5000)
    p.stalls.find(p.clock.now(), p.session.fastest())
    assert.equal(probe.stalled, true)
    assert.equal(p.events.filter(e => e.type === 'fetch:stalled' && e.source === 'a').length, 1, 'reported once')
    assert.equal(other.stalled, true)
  })

  it('never calls a cancelled request stalled, and reports nothing of a source that left', t => {
    const p = parts(t, ['a', 'b'])
    p.source('a').answeredIn(0.1, false)
    const cancelled = p.requests.send(p.source('a'), blocks(0, 3))
    cancelled.controller.abort()
    const gone = p.requests.send(p.source('b'), blocks(3, 4))
    p.session.live.delete('b')
    p.clock.advance(10_000)
    p.stalls.find(p.clock.now(), p.session.fastest())
    assert.equal(cancelled.stalled, false)
    assert.equal(gone.stalled, true, 'its blocks may still go elsewhere')
    assert.deepEqual(p.events, [])
  })

  it('wakes the fetch when the next request in flight would stall', t => {
    const p = parts(t, ['a', 'b'])
    p.source('a').answeredIn(0.1, false)
    p.source('b').answeredIn(0.5, false)
    const t0 = p.clock.now()
    p.requests.send(p.source('b'), blocks(0, 1))
    p.requests.send(p.source('a'), blocks(1, 2))
    assert.equal(p.stalls.next(p.session.fastest()), t0 + 750)
    p.clock.advance(750)
    p.stalls.find(p.clock.now(), p.session.fastest())
    assert.equal(p.stalls.next(p.session.fastest()), t0 + 2000, 'a stalled request no longer wakes it')
  })
})

describe('racing a stalled request on other sources', () => {
  /** A request of blocks 0-3 to `a`, which usually answers in 0.1 s, found stalled after 750 ms. */
  function stalledRequest (p: ReturnType<typeof parts>): ReturnType<typeof p.requests.send> {
    p.source('a').answeredIn(0.1, false)
    const o = p.requests.send(p.source('a'), blocks(0, 4))
    p.clock.advance(750)
    p.stalls.find(p.clock.now(), p.session.fastest())
    assert.equal(o.stalled, true)
    return o
  }

  it('asks a source that answers in under half the wait for the stalled blocks, from the far end', t => {
    const p = parts(t, ['a', 'b'])
    p.source('b').answeredIn(0.2, false)
    const o = stalledRequest(p)
    assert.equal(p.stalls.race(p.clock.now()), Number.POSITIVE_INFINITY)
    assert.deepEqual(p.askedOf('b'), [blocks(0, 4).reverse()])
    assert.equal(p.session.result.duplicates, 1)
    assert.deepEqual(o.raceable, [], 'each block is raced once')
    assert.equal(o.raced, true, 'the stalled request is cancelled once the racer has stored its blocks')
    assert.equal(p.sent.at(-1)?.origin, o, 'what the racer cannot deliver goes back to the stalled request')
  })

  it('does not race a source as slow as the wait so far, and says when it would be worth asking', t => {
    const p = parts(t, ['a', 'b'])
    p.source('b').answeredIn(0.5, false)
    const o = stalledRequest(p)
    assert.equal(p.stalls.race(p.clock.now()), o.started + 1000)
    assert.deepEqual(p.askedOf('b'), [])
    p.clock.advance(250)
    p.stalls.race(p.clock.now())
    assert.deepEqual(p.askedOf('b'), [blocks(0, 4).reverse()])
  })

  it('tries a source that has not answered yet only while it has nothing in flight', async t => {
    const p = parts(t, ['a', 'b'])
    stalledRequest(p)
    const busy = p.requests.send(p.source('b'), blocks(10, 11))
    p.stalls.race(p.clock.now())
    assert.deepEqual(p.askedOf('b'), [[block(10)]])
    busy.controller.abort()
    await new Promise(resolve => setImmediate(resolve)) // the cancelled request ends
    assert.equal(p.source('b').inFlight, 0)
    p.stalls.race(p.clock.now())
    assert.deepEqual(p.askedOf('b').at(-1), blocks(0, 4).reverse())
  })

  it('asks a racer only for the blocks it did not say it lacks; the rest wait for another', t => {
    const p = parts(t, ['a', 'c', 'b'])
    p.source('b').answeredIn(0.1, false)
    p.source('c').answeredIn(0.2, false)
    for (const c of [block(1), block(2)]) p.session.holders.lack(key(c), 'b')
    const o = stalledRequest(p)
    p.stalls.race(p.clock.now())
    assert.deepEqual(p.askedOf('b'), [[block(3), block(0)]], 'the quicker source first')
    assert.deepEqual(p.askedOf('c'), [[block(2), block(1)]], 'then the next')
    assert.deepEqual(o.raceable, [])
  })

  it('races nothing to a stalled source, nor to one whose pipeline is full', t => {
    const p = parts(t, ['a', 'b', 'c'], { fetch: { perSource: 1 } })
    p.source('b').answeredIn(0.1, false)
    p.source('b').stalled = true
    p.source('c').answeredIn(0.1, false)
    const o = stalledRequest(p)
    p.requests.send(p.source('c'), blocks(10, 11))
    p.stalls.race(p.clock.now())
    assert.deepEqual(p.askedOf('b'), [])
    assert.equal(p.askedOf('c').length, 1)
    assert.equal(o.raceable.length, 4, 'its blocks wait for room, or for the stalled source')
  })
})
