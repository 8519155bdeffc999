import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { discreteLaplaceShare, minimumContributors } from '../../src/analytics/noise-shares.js'
import {
  SecureAggregationParticipant, expandMask, shamirCombine, shamirSplit, unmaskSum, type Contribution
} from '../../src/analytics/secure-aggregation.js'
import { discreteLaplacePmf, discreteLaplaceVariance } from '../../src/policy/privacy/privacy-noise.js'

const LENGTH = 13

/** A cohort of n participants: their keys sorted, and each participant at its index. */
function cohort (n: number): { keys: Uint8Array[], nodes: SecureAggregationParticipant[] } {
  const nodes = Array.from({ length: n }, () => new SecureAggregationParticipant()).sort((a, b) => Buffer.compare(a.publicKey, b.publicKey))
  return { keys: nodes.map(p => p.publicKey), nodes }
}

const vector = (i: number): number[] => Array.from({ length: LENGTH }, (_, k) => (i + 1) * 1000 + k - (k === 3 ? 5000 : 0))

/** Run a round where only `present` contribute; the others dropped after publishing their keys. */
function round (n: number, present: number[], name = 'week-1'): { sum: number[], contributions: Contribution[], c: ReturnType<typeof cohort> } {
  const c = cohort(n)
  const t = minimumContributors(n)
  const contributions = present.map(i => c.nodes[i]!.contribute(c.keys, name, vector(i), t))
  const recoveries = present.map(i => {
    const toMe = new Map(contributions.map(x => [x.from, x.shares[i]!] as [number, Uint8Array]).filter(([from]) => from !== i))
    return c.nodes[i]!.recover(c.keys, name, present, toMe, LENGTH, t)
  })
  return { sum: unmaskSum(contributions, recoveries, LENGTH, t), contributions, c }
}

const expected = (present: number[]): number[] => Array.from({ length: LENGTH }, (_, k) => present.reduce((s, i) => s + vector(i)[k]!, 0))

describe('secure aggregation', () => {
  it('20 nodes: the sum comes out exact, and no masked vector shows its values', () => {
    const all = Array.from({ length: 20 }, (_, i) => i)
    const r = round(20, all)
    assert.deepEqual(r.sum, expected(all))
    for (const c of r.contributions) {
      const asSigned = c.masked.map(v => Number(BigInt.asIntN(64, v)))
      assert.ok(asSigned.every((v, k) => v !== vector(c.from)[k]), 'a masked value equals its input')
      assert.ok(c.masked.every(v => v > 1n << 40n || v < (1n << 64n) - (1n << 40n)), 'masked values are spread over 64 bits')
    }
  })

  it('6 of 20 drop after the keys are out: the sum of the other 14 still comes out; 7 dropping leaves no sum at all', () => {
    const dropped = [2, 5, 8, 11, 14, 17]
    const present = Array.from({ length: 20 }, (_, i) => i).filter(i => !dropped.includes(i))
    assert.equal(present.length, 14)
    assert.deepEqual(round(20, present).sum, expected(present))
    const tooFew = present.slice(1)
    assert.throws(() => round(20, tooFew), { code: 'ERR_SECURE_AGGREGATION' })
  })

  it('a node answers once a round, so a contribution that arrives after its node was counted as dropped stays masked', () => {
    const c = cohort(5)
    const t = minimumContributors(5)
    const present = [0, 1, 2, 3]
    const contributions = present.map(i => c.nodes[i]!.contribute(c.keys, 'r', vector(i), t))
    const late = c.nodes[4]!.contribute(c.keys, 'r', vector(4), t)
    const recoveries = present.map(i => c.nodes[i]!.recover(c.keys, 'r', present, new Map(contributions.filter(x => x.from !== i).map(x => [x.from, x.shares[i]!])), LENGTH, t))
    assert.deepEqual(unmaskSum(contributions, recoveries, LENGTH, t), expected(present))
    // asked again, with the late node counted in, an honest node refuses: its self mask shares are never given
    assert.throws(() => c.nodes[0]!.recover(c.keys, 'r', [0, 1, 2, 4], new Map(), LENGTH, t), /already answered/)
    // the late vector, less every pairwise mask the survivors gave up for it, is still hidden by its self mask
    const exposed = late.masked.map((v, k) => Number(BigInt.asIntN(64, recoveries.reduce((s, r) => s + r.correction[k]!, v) % (1n << 64n))))
    assert.notDeepEqual(exposed, vector(4))
    // a foreign cohort and a threshold out of range are refused
    assert.throws(() => new SecureAggregationParticipant().contribute(c.keys, 'r', vector(0), t), { code: 'ERR_SECURE_AGGREGATION' })
    assert.throws(() => c.nodes[0]!.contribute([...c.keys].reverse(), 'r', vector(0), t), /sorted/)
    assert.throws(() => c.nodes[0]!.contribute(c.keys, 'r', vector(0), 1), /threshold/)
  })

  it('Shamir shares: any threshold of them rebuild the secret, fewer give something else; masks are 64-bit words', () => {
    const secret = 123456789012345678901234567890n
    const shares = shamirSplit(secret, 7, 4).map((y, i): [number, bigint] => [i + 1, y])
    assert.equal(shamirCombine(shares.slice(0, 4)), secret)
    assert.equal(shamirCombine([shares[6]!, shares[1]!, shares[4]!, shares[3]!]), secret)
    assert.notEqual(shamirCombine(shares.slice(0, 3)), secret)
    const m = expandMask(new Uint8Array(32).fill(1), 4)
    assert.equal(m.length, 4)
    assert.deepEqual(m, expandMask(new Uint8Array(32).fill(1), 4))
  })
})

describe('distributed noise', () => {
  it('the sum of k shares is discrete Laplace of the full scale: its variance and its pmf', () => {
    const scale = 3
    for (const k of [1, 4, 14]) {
      const n = 20_000
      const counts = new Map<number, number>()
      let sq = 0
      for (let i = 0; i < n; i++) {
        let x = 0
        for (let j = 0; j < k; j++) x += discreteLaplaceShare(scale, k)
        sq += x * x
        counts.set(x, (counts.get(x) ?? 0) + 1)
      }
      const variance = discreteLaplaceVariance(scale)
      assert.ok(Math.abs(sq / n / variance - 1) < 0.1, `k = ${k}: variance ${sq / n} against ${variance}`)
      for (let x = -3; x <= 3; x++) {
        const p = discreteLaplacePmf(x, scale)
        const seen = (counts.get(x) ?? 0) / n
        // 4.5 standard deviations of a proportion
        assert.ok(Math.abs(seen - p) < 4.5 * Math.sqrt(p * (1 - p) / n), `k = ${k}: P(${x}) ${seen} against ${p}`)
      }
    }
    assert.equal(discreteLaplaceShare(0, 3), 0)
    assert.throws(() => discreteLaplaceShare(1, 0), RangeError)
    assert.deepEqual([2, 3, 20, 100].map(minimumContributors), [2, 2, 14, 67])
  })
})
