import { InvalidOptionError } from '../errors.js'
import type { CommunityReport } from './aggregate.js'
import { reportHtml } from './report-html.js'
import { reportCsv, reportJson, reportMarkdown } from './report-text.js'

export type ReportFormat = 'md' | 'html' | 'csv' | 'json'
export const REPORT_FORMATS: readonly ReportFormat[] = ['md', 'html', 'csv', 'json']

/** A community report in one of its formats. */
export function renderReport (report: CommunityReport, format: ReportFormat): string {
  if (format === 'md') return reportMarkdown(report)
  if (format === 'html') return reportHtml(report)
  if (format === 'csv') return reportCsv(report)
  if (format === 'json') return reportJson(report)
  throw new InvalidOptionError(`report format must be one of ${REPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`)
}
