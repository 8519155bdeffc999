import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Ledger, readLedger } from '../../../src/policy/fairness/ledger.js'
import { Unchoker } from '../../../src/policy/fairness/unchoker.js'
import { tempDir } from '../../helpers/temp.js'

describe('ledger and unchoking', () => {
  it('keeps bytes sent and received per peer across a restart, with ratios', t => {
    const repo = tempDir(t)
    const ledger = new Ledger(repo)
    ledger.addSent('alice', 3000)
    ledger.addReceived('alice', 1000)
    ledger.addReceived('bob', 500)
    ledger.close()
    assert.ok(existsSync(join(repo, 'ledger.json')))
    const rows = readLedger(repo)
    const alice = rows.find(r => r.peer === 'alice')!
    assert.equal(alice.sent, 3000)
    assert.equal(alice.received, 1000)
    assert.equal(alice.ratio, 3)
    assert.equal(rows.find(r => r.peer === 'bob')!.ratio, 0)
    assert.equal(new Ledger(repo).get('bob')!.received, 500)
  })

  it('unchokes the peers that upload to us most, and gives the optimistic slot to a choked peer every 30 s', () => {
    let now = 1_000_000
    const ledger = new Ledger(undefined, () => now)
    let coin = 0
    const u = new Unchoker(ledger, { slots: 2, weight: 4, seederWeight: 2 }, () => now, () => { coin = (coin + 0.37) % 1; return coin })
    for (const p of ['a', 'b', 'c', 'd', 'e']) ledger.addSent(p, 1)
    // nobody gives anything back yet: everyone weighs the same, nobody is optimistic
    for (const p of ['a', 'b', 'c', 'd', 'e']) u.interest(p)
    u.tick()
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map(p => u.weight(p)), [1, 1, 1, 1, 1])
    assert.equal(u.optimistic, undefined)
    // c and d upload to us, c more: they are unchoked at the next rechoke (10 s)
    ledger.addReceived('c', 2_000_000)
    ledger.addReceived('d', 1_000_000)
    ledger.addReceived('e', 10)
    now += 10_000
    u.tick()
    assert.deepEqual([...u.unchoked].sort(), ['c', 'd'])
    assert.equal(u.state('c'), 'unchoked')
    const first = u.optimistic
    assert.ok(first !== undefined && !['c', 'd'].includes(first), `optimistic ${String(first)}`)
    assert.equal(u.weight(first), 4)
    // c gave more than it took (it keeps seeding): its weight doubles
    assert.ok(u.seeding('c'))
    assert.equal(u.weight('c'), 8)
    // the optimistic slot stays for 30 s, then moves among choked peers
    const seen = new Set<string>([first])
    for (let i = 0; i < 12; i++) {
      now += 10_000
      for (const p of ['a', 'b', 'c', 'd', 'e']) u.interest(p)
      ledger.addReceived('c', 2_000_000)
      ledger.addReceived('d', 1_000_000)
      u.tick()
      if (i < 1) assert.equal(u.optimistic, first)
      seen.add(u.optimistic!)
    }
    assert.ok(seen.size >= 2, `optimistic slot went to ${[...seen].join(', ')}`)
    for (const p of seen) assert.ok(!['c', 'd'].includes(p))
  })

  it('fills a free slot as soon as a choked peer gives, and weighs a peer that never gave less while others give', () => {
    let now = 0
    const ledger = new Ledger(undefined, () => now)
    const u = new Unchoker(ledger, { slots: 2, weight: 4, seederWeight: 2, takerWeight: 0.25 }, () => now, () => 0)
    for (const p of ['giver', 'late', 'taker']) {
      ledger.addSent(p, 1_000_000)
      u.interest(p)
    }
    u.tick()
    // nobody gives: all weigh the same, the taker too
    assert.deepEqual(['giver', 'late', 'taker'].map(p => u.weight(p)), [1, 1, 1])
    ledger.addReceived('giver', 100_000)
    now += 500
    u.tick()
    // a slot was free and giver gives: unchoked now, not at the rechoke 10 s on
    assert.equal(u.state('giver'), 'unchoked')
    assert.equal(u.weight('giver'), 4)
    // someone gives now: a peer that never gave weighs less than a choked peer that gave; the optimistic one does not
    assert.equal(u.optimistic, 'late') // (the random pick is the first choked peer)
    assert.equal(u.weight('taker'), 0.25)
    ledger.addReceived('late', 10)
    now += 500
    u.tick()
    // a free slot is looked at once a second at most
    assert.equal(u.state('late'), 'optimistic')
    now += 500
    u.tick()
    assert.equal(u.state('late'), 'unchoked') // the second slot
    ledger.addReceived('taker', 1)
    now += 1000
    u.tick()
    // both slots are taken: taker waits for the rechoke (the optimistic slot moved to it when late was unchoked)
    assert.deepEqual([...u.unchoked].sort(), ['giver', 'late'])
    assert.equal(u.state('taker'), 'optimistic')
    assert.equal(u.weight('taker'), 4)
  })

  it('chokes a peer that stopped uploading to us', () => {
    let now = 0
    const ledger = new Ledger(undefined, () => now)
    const u = new Unchoker(ledger, { slots: 1 }, () => now, () => 0)
    ledger.addReceived('a', 1_000_000)
    u.interest('a'); u.interest('b')
    u.tick()
    assert.equal(u.state('a'), 'unchoked')
    // b starts giving, a stops: after the 20 s rate window has decayed a's rate, b takes the slot
    for (let i = 0; i < 10; i++) {
      now += 10_000
      ledger.addReceived('b', 500_000)
      u.interest('a'); u.interest('b')
      u.tick()
    }
    assert.equal(u.state('b'), 'unchoked')
    assert.notEqual(u.state('a'), 'unchoked')
  })
})
