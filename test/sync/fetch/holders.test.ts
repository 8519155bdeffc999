import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Holders } from '../../../src/sync/fetch/holders.js'

describe('who holds the blocks of a fetch', () => {
  it('ranks the sender of a node first for its children, and a source that lacked an ancestor last', () => {
    const h = new Holders()
    h.lack('root', 'busy')
    h.linked('root', ['mid'], 'seeder')
    h.linked('mid', ['leaf1', 'leaf2'], 'seeder')
    assert.equal(h.tier('mid', 'seeder'), 1)
    assert.equal(h.tier('leaf1', 'seeder'), 1)
    assert.equal(h.tier('leaf1', 'stranger'), 2)
    // it lacked the root, two levels up: most likely it lacks the leaves too
    assert.equal(h.tier('leaf2', 'busy'), 3)
    // a block nobody linked: nothing known
    assert.equal(h.tier('other', 'seeder'), 2)
  })

  it('counts what sources say they hold and lack, and forgets refusals when asked to', () => {
    const h = new Holders()
    h.lack('root', 'late')
    h.linked('root', ['leaf'], 'seeder')
    // the late peer fetched the leaf meanwhile and says so
    assert.equal(h.asked('leaf'), false)
    h.asking('leaf')
    h.hold('leaf', 'late')
    assert.equal(h.count('leaf'), 1)
    // a have answer orders nothing (a mirror answers from what it assumes): the hint stays
    assert.equal(h.tier('leaf', 'late'), 3)
    // asked for it, it did not send it: no longer a holder
    h.lack('leaf', 'late')
    assert.equal(h.count('leaf'), 0)
    assert.ok(h.lacks('leaf', 'late'))
    assert.deepEqual([...h.lackers('leaf')!], ['late'])
    h.forgetLacking(['leaf'])
    assert.equal(h.lacks('leaf', 'late'), false)
    assert.equal(h.lackers('leaf'), undefined)
  })

  it('learns nothing from a node that was held here already and nobody lacked', () => {
    const h = new Holders()
    h.linked('root', ['leaf'], undefined)
    assert.equal(h.tier('leaf', 'anyone'), 2)
  })

  it('puts what downloaders said of their holdings before the hints', () => {
    const claims = new Map([['peer leaf', true], ['seeder leaf', false]])
    const h = new Holders({ holds: (source, key) => claims.get(`${source} ${key}`) })
    h.linked('root', ['leaf', 'other'], 'seeder')
    // it said it holds the leaf: ahead of the sender of its parent
    assert.equal(h.tier('leaf', 'peer'), 0)
    // it said it lacks it: last, though it sent the parent
    assert.equal(h.tier('leaf', 'seeder'), 3)
    // nothing said of the other block: the hint as before
    assert.equal(h.tier('other', 'seeder'), 1)
    assert.equal(h.tier('other', 'peer'), 2)
  })

  it('takes a have told after a refusal as the newer word: the downloader holds the block now', () => {
    const claims = new Map<string, boolean>()
    const h = new Holders({ holds: (source, key) => claims.get(`${source} ${key}`) })
    // a steal asked a neighbour for a leaf it had not verified yet: it refused
    h.lack('leaf', 'peer')
    assert.ok(h.lacks('leaf', 'peer'))
    // it verified the leaf since and told of it in a have: it may be asked again
    claims.set('peer leaf', true)
    assert.equal(h.lacks('leaf', 'peer'), false)
    assert.equal(h.tier('leaf', 'peer'), 0)
    // a claim it then denied is dropped by the trading table: the refusal stands again
    claims.delete('peer leaf')
    assert.ok(h.lacks('leaf', 'peer'))
    // a source that only said it lacks the file's leaves stays refused
    claims.set('other leaf', false)
    h.lack('leaf', 'other')
    assert.ok(h.lacks('leaf', 'other'))
  })
})
