import { randomBytes } from 'node:crypto'
import { RANDOM_POOL_BYTES } from './constants.js'

/** A uniform number in (0, 1]. */
export type Uniform = () => number

let pool = Buffer.alloc(0)
let at = 0

/** Uniform in (0, 1] from 53 random bits of node:crypto (noise must not be predictable from Math.random). */
export const secureUniform: Uniform = () => {
  if (at + 8 > pool.length) {
    pool = randomBytes(RANDOM_POOL_BYTES)
    at = 0
  }
  const hi = pool.readUInt32BE(at) >>> 5 // 27 bits
  const lo = pool.readUInt32BE(at + 4) >>> 6 // 26 bits
  // used bytes are zeroed: noise already drawn cannot be read back from the pool
  pool.fill(0, at, at + 8)
  at += 8
  return (hi * 67108864 + lo + 1) / 9007199254740992
}

/** Geometric on {0, 1, 2, ...}: failures before the first success, P(G = g) = (1 - p) p^g. */
function geometric (p: number, uniform: Uniform): number {
  if (p <= 0) return 0
  return Math.floor(Math.log(uniform()) / Math.log(p))
}

/**
 * Discrete Laplace noise of scale `scale` (= sensitivity / epsilon): P(X = x) proportional to exp(-|x| / scale),
 * drawn as the difference of two geometric variables. Adding it to an integer whose value one member changes by
 * at most `sensitivity` gives epsilon-differential privacy, with no floating-point release to attack (the value
 * released is an integer). Scale 0 adds nothing.
 */
export function discreteLaplace (scale: number, uniform: Uniform = secureUniform): number {
  if (!(scale > 0)) return 0
  const p = Math.exp(-1 / scale)
  return geometric(p, uniform) - geometric(p, uniform)
}

/** P(X = x) of discreteLaplace(scale). */
export function discreteLaplacePmf (x: number, scale: number): number {
  const p = Math.exp(-1 / scale)
  return (1 - p) / (1 + p) * p ** Math.abs(x)
}

/** Variance of discreteLaplace(scale): 2p / (1 - p)^2 with p = e^(-1/scale) (about 2 scale^2). */
export function discreteLaplaceVariance (scale: number): number {
  if (!(scale > 0)) return 0
  const p = Math.exp(-1 / scale)
  return 2 * p / (1 - p) ** 2
}
