import type { Database } from 'lmdb'
import { PrivacyBudgetError } from '../../errors.js'
import { EPSILON_SLACK } from './constants.js'

export interface BudgetState {
  /** Epsilon spent on the period. */
  period: number
  /** Epsilon spent over the node's lifetime. */
  lifetime: number
}

/**
 * The privacy ledger: epsilon spent per period and over the node's lifetime, in the node's LMDB, so a restart
 * does not give the budget back. A spend is recorded (synchronously, committed) before anything is released.
 */
export class PrivacyLedger {
  constructor (private readonly db: Database<number, string>) {}

  state (periodStart: number): BudgetState {
    return { period: this.db.get(`spent:${periodStart}`) ?? 0, lifetime: this.db.get('spent:lifetime') ?? 0 }
  }

  /** Spend `epsilon` on the period, or refuse (ERR_PRIVACY_BUDGET) when the period or lifetime budget would be passed. */
  spend (periodStart: number, epsilon: number, limits: { perPeriod: number, lifetime: number }): BudgetState {
    return this.db.transactionSync(() => {
      const s = this.state(periodStart)
      if (s.period + epsilon > limits.perPeriod + EPSILON_SLACK) {
        throw new PrivacyBudgetError(`the period's privacy budget is spent (${s.period} of ${limits.perPeriod}); nothing more is released until the next period`)
      }
      if (s.lifetime + epsilon > limits.lifetime + EPSILON_SLACK) {
        throw new PrivacyBudgetError(`the lifetime privacy budget is spent (${s.lifetime} of ${limits.lifetime}); nothing more is released`)
      }
      const next = { period: s.period + epsilon, lifetime: s.lifetime + epsilon }
      this.db.putSync(`spent:${periodStart}`, next.period)
      this.db.putSync('spent:lifetime', next.lifetime)
      return next
    })
  }
}
