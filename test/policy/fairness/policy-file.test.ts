import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DEFAULT_PRIORITY_CLASSES, parsePolicy, readPolicy } from '../../../src/policy/fairness/policy-file.js'
import { tempDir } from '../../helpers/temp.js'

const CID_TEXT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

describe('policy.json', () => {
  it('reads fairness and priorities and leaves other top-level keys alone', () => {
    const p = parsePolicy({
      fairness: { maxShare: 0.2, congestion: { targetDelayMs: 100 }, unchoke: { slots: 3, takerWeight: 0.5 }, weights: { peerA: 2 } },
      priorities: [{ name: 'critical', purposes: ['notice'], cids: [CID_TEXT] }, { name: 'bulk', peers: ['peerB'] }],
      analytics: { anything: ['goes', 'here'] }
    })
    assert.equal(p.fairness.maxShare, 0.2)
    assert.equal(p.fairness.congestion?.targetDelayMs, 100)
    assert.equal(p.fairness.unchoke?.slots, 3)
    assert.equal(p.fairness.unchoke?.takerWeight, 0.5)
    assert.equal(p.fairness.weights?.peerA, 2)
    assert.deepEqual(p.priorities.map(c => c.name), ['critical', 'bulk', 'default'])
    assert.equal(p.priorities[0]!.cids![0]!.toString(), CID_TEXT)
  })

  it('uses notices-first classes and default fairness without a file', t => {
    const p = readPolicy(tempDir(t))
    assert.deepEqual(p.fairness, {})
    assert.deepEqual(p.priorities, DEFAULT_PRIORITY_CLASSES)
  })

  it('refuses typos and values out of range with ERR_POLICY_FILE', t => {
    for (const bad of [
      { fairness: { maxshare: 0.2 } },
      { fairness: { maxShare: 1.5 } },
      { fairness: { slots: 0 } },
      { fairness: { unchoke: { takerWeight: 2 } } },
      { fairness: { congestion: { targetDelay: 5 } } },
      { priorities: [] },
      { priorities: [{ name: 'x', purposes: ['gossip'] }] },
      { priorities: [{ name: 'x', cids: ['not-a-cid'] }] },
      { priorities: [{ name: 'x' }, { name: 'x' }] },
      []
    ]) assert.throws(() => parsePolicy(bad), { code: 'ERR_POLICY_FILE' }, JSON.stringify(bad))
    const repo = tempDir(t)
    writeFileSync(join(repo, 'policy.json'), '{ "fairness": ')
    assert.throws(() => readPolicy(repo), { code: 'ERR_POLICY_FILE' })
  })
})
