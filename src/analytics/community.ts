import type { Analytics } from './analytics.js'
import { combineReports, type CommunityReport } from './aggregate.js'
import type { PeriodName } from './constants.js'
import { resourceTitles } from './titles.js'

/** The community report from every aggregate a node holds (its own and those heard), grouped by `period`. */
export function communityReport (analytics: Analytics, options: { period?: PeriodName, now?: () => number } = {}): CommunityReport {
  const policy = analytics.policy()
  return combineReports(analytics.reports(), {
    period: options.period ?? policy.period,
    threshold: policy.popularityThreshold,
    aggregates: analytics.aggregates(),
    titles: resourceTitles(analytics.repo),
    now: options.now
  })
}
