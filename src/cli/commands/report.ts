import { writeFileSync } from 'node:fs'
import { Analytics } from '../../analytics/analytics.js'
import { communityReport } from '../../analytics/community.js'
import { parsePeriod } from '../../analytics/period.js'
import { renderReport, REPORT_FORMATS, type ReportFormat } from '../../analytics/report.js'
import { resolveRepo } from '../../store/index.js'
import { UsageError } from '../args.js'
import type { Command } from '../command.js'

export const report: Command = {
  name: 'report',
  summary: 'the community report from the differentially private aggregates this node holds: health, benefit, growth, popular resources',
  usage: 'report [--period hour|day|week|month] [--format md|html|csv|json] [-o FILE] | report --release',
  options: { period: { type: 'string' }, format: { type: 'string' }, output: { type: 'string', short: 'o' }, release: { type: 'boolean' } },
  async run (ctx, values) {
    if (values.release === true) {
      // the current period is closed for this node now: a new community has a report the first day
      const r = await (await ctx.nodeClient()).releaseReport()
      if (ctx.options.json) ctx.printJson(r)
      else ctx.print(`released the ${r.period} from ${r.start} at epsilon ${r.epsilon} to ${r.recipients} peers now (the rest by anti-entropy); spent ${r.spent.period} this period, ${r.spent.lifetime} in all`)
      return
    }
    const format = (values.format as string | undefined) ?? (ctx.options.json ? 'json' : 'md')
    if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`report: --format must be one of ${REPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`)
    let period
    try {
      period = values.period === undefined ? undefined : parsePeriod(values.period, '--period')
    } catch (err) {
      throw new UsageError(`report: ${(err as Error).message}`)
    }
    const analytics = new Analytics(resolveRepo(ctx.options.repo), { enabled: true })
    try {
      const text = renderReport(communityReport(analytics, { period }), format as ReportFormat)
      if (typeof values.output === 'string') writeFileSync(values.output, text)
      else ctx.stdout.write(text)
    } finally {
      await analytics.stop()
    }
  }
}
