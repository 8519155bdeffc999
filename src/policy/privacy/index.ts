/**
 * Privacy: the differential-privacy budget a repository spends, and discrete Laplace noise.
 */
export { PrivacyLedger, type BudgetState } from './privacy-budget.js'
export { discreteLaplace, discreteLaplacePmf, discreteLaplaceVariance, secureUniform, type Uniform } from './privacy-noise.js'
