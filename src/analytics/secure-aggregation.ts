import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { SecureAggregationError } from '../errors.js'

/**
 * Secure aggregation of integer vectors (after Bonawitz et al., CCS 2017, "Practical Secure Aggregation for
 * Privacy-Preserving Machine Learning"), for one round of a cohort of n nodes, each named by its index in the sorted
 * list of the cohort's public keys:
 *
 * 1. every node publishes an X25519 public key; the cohort is the sorted list of those keys;
 * 2. node i sends y_i = x_i + PRG(b_i) + sum over j > i of PRG(s_ij) - sum over j < i of PRG(s_ij) (mod 2^64), where
 *    s_ij is the X25519 secret i shares with j and b_i a fresh self mask, with a Shamir share of b_i for every
 *    other node, encrypted to it (AES-256-GCM under a key from s_ij);
 * 3. once the contributions of a set S of at least `threshold` nodes are in, each node of S sends, for every node of
 *    S, its share of that node's self mask, and for the nodes outside S (dropped) the sum of its pairwise masks with
 *    them. An honest node answers once a round: it never gives both the self-mask share and the pairwise masks of
 *    one node, so a contribution that arrives late is still hidden by its self mask;
 * 4. anyone adds the y_i of S, removes the self masks (rebuilt from `threshold` shares) and the dropped nodes'
 *    pairwise masks, and gets the sum of the x_i of S, and nothing else.
 *
 * Fewer than `threshold` contributions: no recovery is given and no sum exists. Against honest-but-curious nodes
 * and collectors; a node that lies about S or sends bad shares can spoil a round (the sum fails to decode) but not
 * read another node's vector while fewer than `threshold` nodes collude.
 */

const MOD = 1n << 64n
/** The Mersenne prime 2^521 - 1: Shamir shares of a 256-bit self mask are taken modulo it. */
const PRIME = (1n << 521n) - 1n
const SHARE_BYTES = 66

const toBig = (b: Uint8Array): bigint => BigInt('0x' + (Buffer.from(b).toString('hex') || '0'))
const toBytes = (n: bigint, length: number): Buffer => Buffer.from(n.toString(16).padStart(length * 2, '0'), 'hex')
const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m

/** 8 bytes a value of the keystream of AES-256-CTR under `seed`: the mask a seed stands for. */
export function expandMask (seed: Uint8Array, length: number): bigint[] {
  const cipher = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16))
  const stream = Buffer.concat([cipher.update(Buffer.alloc(8 * length)), cipher.final()])
  return Array.from({ length }, (_, i) => stream.readBigUInt64BE(8 * i))
}

function modInverse (a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n]
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1]
  }
  return mod(s0, m)
}

/** Shamir shares of `secret` for x = 1..n, any `threshold` of which rebuild it. */
export function shamirSplit (secret: bigint, n: number, threshold: number): bigint[] {
  const coeffs = [secret, ...Array.from({ length: threshold - 1 }, () => mod(toBig(randomBytes(SHARE_BYTES)), PRIME))]
  return Array.from({ length: n }, (_, i) => {
    const x = BigInt(i + 1)
    let y = 0n
    for (let k = coeffs.length - 1; k >= 0; k--) y = mod(y * x + coeffs[k]!, PRIME)
    return y
  })
}

/** The secret from shares [x, y] (Lagrange interpolation at 0). */
export function shamirCombine (shares: Array<[number, bigint]>): bigint {
  let secret = 0n
  for (const [xi, yi] of shares) {
    let num = 1n
    let den = 1n
    for (const [xj] of shares) {
      if (xj === xi) continue
      num = mod(num * BigInt(-xj), PRIME)
      den = mod(den * BigInt(xi - xj), PRIME)
    }
    secret = mod(secret + yi * num * modInverse(den, PRIME), PRIME)
  }
  return secret
}

export interface Contribution {
  from: number
  /** y_i, each value mod 2^64. */
  masked: bigint[]
  /** For each other node j (null at i), node i's self-mask share for j, encrypted to j. */
  shares: Array<Uint8Array | null>
}

export interface Recovery {
  from: number
  /** [index of a node of S, this node's share of its self mask]. */
  selfMaskShares: Array<[number, bigint]>
  /** Sum of this node's pairwise masks with the dropped nodes, each with the sign it used. */
  correction: bigint[]
}

/** One node's part in secure aggregation rounds: its key pair, and what it sent in each round. */
export class SecureAggregationParticipant {
  readonly publicKey: Uint8Array
  private readonly privateKey: KeyObject
  private readonly answered = new Set<string>()

  constructor () {
    const { publicKey, privateKey } = generateKeyPairSync('x25519')
    this.publicKey = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32))
    this.privateKey = privateKey
  }

  private shared (other: Uint8Array, round: string, info: string): Buffer {
    const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), other]), format: 'der', type: 'spki' })
    const secret = diffieHellman({ privateKey: this.privateKey, publicKey })
    return Buffer.from(hkdfSync('sha256', secret, Buffer.from(round), `cmesh secure aggregation ${info}`, 32))
  }

  private index (cohort: Uint8Array[]): number {
    const i = cohort.findIndex(k => Buffer.from(k).equals(this.publicKey))
    if (i < 0) throw new SecureAggregationError('this node is not in the cohort')
    return i
  }

  /** Round 2: the masked vector, and the self-mask shares for the others. `values` are integers. */
  contribute (cohort: Uint8Array[], round: string, values: number[], threshold: number): Contribution {
    checkCohort(cohort, threshold)
    const i = this.index(cohort)
    const masked = values.map(v => {
      if (!Number.isSafeInteger(v)) throw new SecureAggregationError(`values must be safe integers, got ${v}`)
      return mod(BigInt(v), MOD)
    })
    const add = (mask: bigint[], sign: bigint): void => { for (let k = 0; k < masked.length; k++) masked[k] = mod(masked[k]! + sign * mask[k]!, MOD) }
    const self = randomBytes(32)
    add(expandMask(self, values.length), 1n)
    for (let j = 0; j < cohort.length; j++) if (j !== i) add(expandMask(this.shared(cohort[j]!, round, 'mask'), values.length), j > i ? 1n : -1n)
    const split = shamirSplit(toBig(self), cohort.length, threshold)
    const shares = cohort.map((key, j) => {
      if (j === i) return null
      const nonce = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', this.shared(key, round, 'share'), nonce)
      const body = Buffer.concat([c.update(toBytes(split[j]!, SHARE_BYTES)), c.final()])
      return new Uint8Array(Buffer.concat([nonce, body, c.getAuthTag()]))
    })
    this.ownShare.set(round, split[i]!)
    return { from: i, masked, shares }
  }

  private readonly ownShare = new Map<string, bigint>()

  /**
   * Round 3, once a round: for the nodes of `survivors` (whose contributions are in), this node's shares of their
   * self masks; for the others, the sum of its pairwise masks with them. Refused below the threshold.
   */
  recover (cohort: Uint8Array[], round: string, survivors: number[], sharesToMe: Map<number, Uint8Array>, length: number, threshold: number): Recovery {
    checkCohort(cohort, threshold)
    const i = this.index(cohort)
    const s = new Set(survivors)
    if (s.size < threshold) throw new SecureAggregationError(`${s.size} contributions of ${cohort.length}: below the threshold of ${threshold}, nothing is recovered`)
    if (!s.has(i)) throw new SecureAggregationError('this node\'s contribution is not among the survivors')
    if (this.answered.has(round)) throw new SecureAggregationError('this node already answered for this round')
    this.answered.add(round)
    const selfMaskShares: Array<[number, bigint]> = []
    for (const j of s) {
      if (j === i) { selfMaskShares.push([j, this.ownShare.get(round)!]); continue }
      const box = sharesToMe.get(j)
      if (box === undefined) continue
      const key = this.shared(cohort[j]!, round, 'share')
      try {
        const d = createDecipheriv('aes-256-gcm', key, box.subarray(0, 12))
        d.setAuthTag(box.subarray(box.length - 16))
        selfMaskShares.push([j, toBig(Buffer.concat([d.update(box.subarray(12, box.length - 16)), d.final()]))])
      } catch {
        throw new SecureAggregationError(`the self-mask share from node ${j} does not decrypt`)
      }
    }
    const correction = new Array<bigint>(length).fill(0n)
    for (let d = 0; d < cohort.length; d++) {
      if (s.has(d)) continue
      const mask = expandMask(this.shared(cohort[d]!, round, 'mask'), length)
      const sign = d > i ? 1n : -1n
      for (let k = 0; k < length; k++) correction[k] = mod(correction[k]! + sign * mask[k]!, MOD)
    }
    return { from: i, selfMaskShares, correction }
  }
}

function checkCohort (cohort: Uint8Array[], threshold: number): void {
  if (!Number.isSafeInteger(threshold) || threshold < 2 || threshold > cohort.length) throw new SecureAggregationError(`threshold must be from 2 to the cohort's ${cohort.length}`)
  for (let k = 1; k < cohort.length; k++) {
    if (Buffer.compare(cohort[k - 1]!, cohort[k]!) >= 0) throw new SecureAggregationError('the cohort must be sorted public keys, each once')
  }
}

/**
 * Round 4: the sum of the survivors' vectors, as signed integers, from their contributions and the recoveries of
 * at least `threshold` of them. Fails (ERR_SECURE_AGGREGATION) when too few answered or the masks do not all come off.
 */
export function unmaskSum (contributions: Contribution[], recoveries: Recovery[], length: number, threshold: number): number[] {
  const survivors = new Set(contributions.map(c => c.from))
  if (survivors.size < threshold || recoveries.length < threshold) throw new SecureAggregationError(`${recoveries.length} recoveries of ${survivors.size} contributions: below the threshold of ${threshold}`)
  const sum = new Array<bigint>(length).fill(0n)
  for (const c of contributions) for (let k = 0; k < length; k++) sum[k] = mod(sum[k]! + c.masked[k]!, MOD)
  for (const r of recoveries) {
    if (!survivors.has(r.from)) throw new SecureAggregationError(`a recovery from node ${r.from}, which did not contribute`)
    for (let k = 0; k < length; k++) sum[k] = mod(sum[k]! - r.correction[k]!, MOD)
  }
  for (const i of survivors) {
    const shares = recoveries.flatMap(r => r.selfMaskShares.filter(([j]) => j === i).map(([, y]): [number, bigint] => [r.from + 1, y]))
    if (shares.length < threshold) throw new SecureAggregationError(`only ${shares.length} shares of node ${i}'s self mask`)
    const self = shamirCombine(shares.slice(0, threshold))
    if (self >= 1n << 256n) throw new SecureAggregationError(`node ${i}'s self mask does not rebuild: a share is wrong`)
    const mask = expandMask(toBytes(self, 32), length)
    for (let k = 0; k < length; k++) sum[k] = mod(sum[k]! - mask[k]!, MOD)
  }
  return sum.map(v => Number(BigInt.asIntN(64, v)))
}
