import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { BlockSource } from '../../../src/sync/fetch/fetch-interface.js'
import { SourceStats } from '../../../src/sync/fetch/source-stats.js'
import { FakeClock } from '../../helpers/fake-clock.js'

const MiB = 1024 * 1024
const source: BlockSource = { id: 'peer', request: async () => ({ blocks: [], missing: [] }) }

interface Spell {
  /** How long the source works, with `depth` requests in flight all along. */
  ms: number
  /** Answers it gives in that time, evenly spread, of `bytes` in all. */
  answers: number
  bytes: number
  depth?: number
}

/**
 * `s` works through `spell` the way a fetch drives it: requests go out, each answer is timed and its bytes
 * credited, and the pipeline is looked at after every answer (as each dispatch does).
 */
function serve (s: SourceStats, clock: FakeClock, spell: Spell, requestBytes = MiB): void {
  const depth = spell.depth ?? 1
  const step = spell.ms / spell.answers
  for (let i = 0; i < depth; i++) s.sent()
  for (let i = 0; i < spell.answers; i++) {
    clock.advance(step)
    s.answeredIn(step * depth / 1000, false) // with `depth` in flight, each request waits `depth` steps
    s.credit(spell.bytes / spell.answers)
    s.settled()
    s.sent()
    s.pipeline(requestBytes)
  }
  for (let i = 0; i < depth; i++) s.settled()
}

describe('pipeline sizing: requests in flight to a source, by its recent throughput (Little\'s law)', () => {
  const rows: Array<{ name: string, spells: Spell[], requestBytes?: number, depth: number }> = [
    { name: 'gives a source that has delivered nothing yet the default 4', spells: [], depth: 4 },
    { name: 'keeps the default 4 until the source has been busy 200 ms', spells: [{ ms: 150, answers: 3, bytes: 300_000 }], depth: 4 },
    // 15 answers a second: 7.5 requests answered in 0.5 s, so 8 in flight, and one more being answered
    { name: 'sizes a source\'s pipeline to cover its throughput over 0.5 s, plus one', spells: [{ ms: 1000, answers: 15, bytes: 750_000 }], depth: 9 },
    // 50 KB in 3 busy seconds (one quick answer, then an empty one): a sixth of a request in 0.5 s
    {
      name: 'gives a source that delivers little for the time it is busy 2, the least',
      spells: [{ ms: 100, answers: 1, bytes: 50_000 }, { ms: 2900, answers: 1, bytes: 0 }],
      depth: 2
    },
    { name: 'gives a source at most 16, however fast', spells: [{ ms: 1000, answers: 100, bytes: 10 * MiB }], depth: 16 },
    // 5 MB/s over 0.5 s is 9.5 requests of 256 KiB (were the 1 MB answers counted whole, it would be 2.5)
    {
      name: 'counts a request as requestBytes at most, however large its answers were',
      spells: [{ ms: 1000, answers: 5, bytes: 5_000_000 }],
      requestBytes: 256 * 1024,
      depth: 11
    },
    // answers take 1 s at the quickest (8 in flight, 8 a second): 0.5 s of throughput would leave it 5 in flight
    {
      name: 'covers a source\'s quickest answer when that is longer than 0.5 s (a long round trip)',
      spells: [{ ms: 2000, answers: 16, bytes: 1_600_000, depth: 8 }],
      depth: 9
    }
  ]
  for (const row of rows) {
    it(row.name, () => {
      const clock = new FakeClock()
      const s = new SourceStats(source, clock)
      for (const spell of row.spells) serve(s, clock, spell, row.requestBytes)
      assert.equal(s.pipeline(row.requestBytes ?? MiB), row.depth)
    })
  }

  it('sizes a source\'s pipeline to cover its throughput over the last busy seconds, not since the start', () => {
    const clock = new FakeClock()
    const s = new SourceStats(source, clock)
    // a slow start (1 answer a second for 20 s, as under a cold swarm's handshakes), then 20 answers a second,
    // which alone would give 11 (10 answers in 0.5 s, plus one)
    serve(s, clock, { ms: 20_000, answers: 20, bytes: 20 * 50_000 })
    serve(s, clock, { ms: 2000, answers: 40, bytes: 40 * 50_000 })
    const soon = s.pipeline(MiB)
    assert.ok(soon >= 7, `after 2 s, the new rate counts more than the slow start: ${soon} (since the start: 60 answers in 22 s, 3)`)
    serve(s, clock, { ms: 4000, answers: 80, bytes: 80 * 50_000 })
    const later = s.pipeline(MiB)
    assert.ok(later >= 10 && later <= 11, `after 6 s, the slow start is forgotten: ${later} (since the start: 140 answers in 26 s, 4)`)
  })

  it('counts only the time a source had requests in flight: idle time does not lower its throughput', () => {
    const clock = new FakeClock()
    const s = new SourceStats(source, clock)
    serve(s, clock, { ms: 1000, answers: 15, bytes: 750_000 })
    clock.advance(10_000) // nothing asked of it: a wall-clock rate would fall to a tenth
    assert.equal(s.pipeline(MiB), 9)
    // while it has work, the time counts as it passes, before the request is answered
    s.sent()
    clock.advance(4000)
    // 750 KB over 5 busy seconds (both halved past 4 s): 1.5 requests in 0.5 s, plus one
    assert.equal(s.pipeline(MiB), 3, 'four silent seconds busy bring its rate down')
    s.settled()
  })

  it('expects a source to take its usual time per request, times the requests ahead of one more', () => {
    const clock = new FakeClock()
    const s = new SourceStats(source, clock)
    assert.equal(s.eta(), 0, 'a source that has not answered yet is tried at once')
    s.answeredIn(0.2, false)
    s.answeredIn(0.1, false) // a moving average: 0.2 x 0.7 + 0.1 x 0.3
    assert.ok(Math.abs(s.secondsPerRequest - 0.17) < 1e-9, String(s.secondsPerRequest))
    s.sent()
    s.sent()
    assert.ok(Math.abs(s.eta() - 3 * 0.17) < 1e-9, String(s.eta()))
    // an answer that had stalled shows what the source takes now: it is not averaged away
    s.answeredIn(2, true)
    assert.equal(s.secondsPerRequest, 2)
    assert.equal(s.quickest, 0.1)
  })
})
