/** Tunables of privacy: the budget's tolerance and the noise's source of randomness. */

/**
 * Epsilon a spend may pass a budget by, as floating-point slack: sums of epsilons are inexact (a period split in
 * thirds still adds up to its budget), and 1e-9 is far above their rounding yet far below any epsilon spent.
 */
export const EPSILON_SLACK = 1e-9
/** Random bytes drawn from node:crypto at a time for noise (512 uniforms), zeroed as they are used. */
export const RANDOM_POOL_BYTES = 4096
