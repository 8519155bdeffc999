import { secureUniform, type Uniform } from '../policy/privacy/privacy-noise.js'

/**
 * Distributed discrete Laplace noise. Discrete Laplace of scale s is G1 - G2, two geometric variables of
 * p = e^(-1/s), and a geometric variable is the sum of k negative binomials of r = 1/k (it is infinitely divisible).
 * So when each of k nodes adds NB(1/k, p) - NB(1/k, p), the sum of their k shares is exactly discrete Laplace of
 * scale s: the noise one trusted aggregator would add, once for the whole community. A negative binomial of real r
 * is drawn as Poisson(Gamma(r, p / (1 - p))).
 */

const gaussian = (uniform: Uniform): number => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())

/** Gamma(shape, 1) (Marsaglia and Tsang; shape < 1 by Gamma(shape + 1) * U^(1 / shape)). */
function gamma (shape: number, uniform: Uniform): number {
  if (shape < 1) return gamma(shape + 1, uniform) * uniform() ** (1 / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = gaussian(uniform)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = uniform()
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v
  }
}

/** Poisson(lambda), exact: products of uniforms in pieces of at most 500 (e^-500 is still a double). */
function poisson (lambda: number, uniform: Uniform): number {
  let n = 0
  for (let left = lambda; left > 0; left -= 500) {
    const limit = Math.exp(-Math.min(500, left))
    let prod = uniform()
    while (prod > limit) {
      n++
      prod *= uniform()
    }
  }
  return n
}

/** Negative binomial NB(r, p): failures before the r-th success, for real r > 0. */
function negativeBinomial (r: number, p: number, uniform: Uniform): number {
  if (p <= 0) return 0
  return poisson(gamma(r, uniform) * p / (1 - p), uniform)
}

/**
 * One node's share of discrete Laplace noise of `scale`, for a sum of `parts` shares: the sum of `parts` of them
 * is distributed exactly as discreteLaplace(scale); the sum of more is that plus more noise (just as private).
 */
export function discreteLaplaceShare (scale: number, parts: number, uniform: Uniform = secureUniform): number {
  if (!(scale > 0)) return 0
  if (!Number.isSafeInteger(parts) || parts < 1) throw new RangeError(`parts must be a positive integer, got ${parts}`)
  const p = Math.exp(-1 / scale)
  return negativeBinomial(1 / parts, p, uniform) - negativeBinomial(1 / parts, p, uniform)
}

/**
 * How many nodes of a cohort of n must contribute for its sum to be unmasked (the Shamir threshold) and so how
 * many noise shares each node's share is cut for: two thirds of the cohort, at least 2. Up to n - minimum nodes
 * may drop (or collude against the others) and the sum still carries the full noise.
 */
export function minimumContributors (n: number): number {
  return Math.min(n, Math.max(2, Math.ceil(2 * n / 3)))
}
