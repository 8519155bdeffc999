import type { CommunityPeriod, CommunityReport, Estimate } from './aggregate.js'

/** A number as people read it: 1,234 or 12.3. */
export function fmt (n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** A noisy total for display, with its margin; "too noisy" first when the margin is larger than the value. */
export function est (e: Estimate, digits = 0): string {
  const text = `${fmt(Math.max(0, e.value), digits)} ± ${fmt(e.margin, digits)}`
  return e.tooNoisy ? `too noisy (${text})` : text
}

export const pct = (x: number | null): string => x === null ? 'too noisy' : `${(100 * x).toFixed(1)} %`

/** Escape a table cell of Markdown (titles come from announcements: untrusted text). */
const mdCell = (s: string): string => s.replace(/[\\|`*_[\]<>#]/g, c => `\\${c}`).replace(/[\r\n]+/g, ' ')

export function explain (r: CommunityReport): string {
  return `Every figure is a sum of differentially private releases (epsilon ${r.epsilon} per node per period): ` +
    'each node adds noise to its own counts before they leave it, so no figure reveals what any one member did. ' +
    '± is a 95 % margin of that noise; a figure whose margin is larger than itself reads "too noisy", and totals are held to what the ' +
    'nodes could have done (never below zero, uptime at most the period). ' +
    `A resource is named only when its noisy count of requesting nodes clears a noisy threshold (k = ${r.threshold}) by its margin.` +
    secureNote(r)
}

/** Which periods came (in part) from secure sums: there the noise was added once for the nodes in the sum. */
function secureNote (r: CommunityReport): string {
  const secure = r.periods.filter(p => p.secureContributors > 0)
  if (secure.length === 0) return ''
  return ` Secure aggregation: in ${secure.map(p => `${p.label} (${p.secureContributors} of ${p.nodesOnline} nodes)`).join(', ')}, ` +
    'nodes sent their figures masked in one secure sum, with the noise added once for all of them: no node\'s own figures were seen.'
}

/** The Markdown report: a newsletter section. */
export function reportMarkdown (r: CommunityReport): string {
  const out: string[] = ['# Community network report', '', `Generated ${r.generated} from ${r.reports} node reports, by ${r.period}.`, '', explain(r), '']
  if (r.periods.length === 0) return [...out, 'No reports yet: nodes release one per period.', ''].join('\n')
  out.push(
    '## Network health',
    '',
    '| period | nodes online | uptime h | MB in / h | error rate | segment peers |',
    '| --- | ---: | ---: | ---: | ---: | ---: |'
  )
  for (const p of r.periods) out.push(`| ${p.label} | ${p.nodesOnline} | ${est(p.totals.uptimeHours!)} | ${est(p.throughputMBPerHour, 1)} | ${pct(p.errorRate)} | ${est(p.segmentPeers, 1)} |`)
  out.push(
    '',
    '## Community benefit',
    '',
    '| period | MB from neighbours | MB saved by caches | MB from outside | MB from mirrors | external bandwidth saved | share |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'
  )
  for (const p of r.periods) out.push(`| ${p.label} | ${est(p.totals.peerMB!)} | ${est(p.totals.savedMB!)} | ${est(p.totals.externalMB!)} | ${est(p.totals.mirrorMB!)} | ${est(p.savedMB)} MB | ${pct(p.savedShare)} |`)
  out.push('', '## Growth and adoption', '', '| period | nodes online | new nodes | resources fetched | MB served |', '| --- | ---: | ---: | ---: | ---: |')
  for (const p of r.periods) out.push(`| ${p.label} | ${p.nodesOnline} | ${est(p.newNodes)} | ${est(p.totals.resources!)} | ${est(p.totals.servedMB!)} |`)
  out.push('', '## Popular resources', '')
  for (const p of r.periods) {
    out.push(`### ${p.label}`, '')
    if (p.popular.length === 0) { out.push('None passed the threshold.', ''); continue }
    out.push('| resource | requesting nodes |', '| --- | ---: |')
    for (const x of p.popular) out.push(`| ${mdCell(x.title ?? x.root)} | ${est(x.requesters)} |`)
    out.push('')
  }
  return out.join('\n')
}

const csvCell = (v: string | number | null): string => {
  const s = v === null ? '' : String(v)
  // a leading = + - @ would be a formula in a spreadsheet
  const safe = /^[=+\-@\t\r]/.test(s) && typeof v === 'string' ? `'${s}` : s
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

/** The CSV report: one row per period and figure (period, section, name, value, margin), for a spreadsheet. */
export function reportCsv (r: CommunityReport): string {
  const rows: Array<Array<string | number | null>> = [['period', 'period_start', 'section', 'name', 'value', 'margin95', 'too_noisy']]
  const add = (p: CommunityPeriod, section: string, name: string, value: number | null, margin: number | null = null): void => {
    rows.push([p.label, new Date(p.start).toISOString(), section, name, value, margin, margin === null ? null : String(value === null || margin > value)])
  }
  const round = (x: number, digits: number): number => Number(x.toFixed(digits))
  for (const p of r.periods) {
    add(p, 'health', 'nodesOnline', p.nodesOnline)
    add(p, 'health', 'reports', p.reports)
    add(p, 'health', 'secureContributors', p.secureContributors)
    add(p, 'health', 'throughputMBPerHour', round(p.throughputMBPerHour.value, 3), round(p.throughputMBPerHour.margin, 3))
    add(p, 'health', 'errorRate', p.errorRate)
    add(p, 'health', 'segmentPeers', round(p.segmentPeers.value, 2), round(p.segmentPeers.margin, 2))
    for (const [k, e] of Object.entries(p.totals)) add(p, 'totals', k, e.value, Number(e.margin.toFixed(2)))
    add(p, 'benefit', 'savedMB', p.savedMB.value, Number(p.savedMB.margin.toFixed(2)))
    add(p, 'benefit', 'savedShare', p.savedShare === null ? null : Number(p.savedShare.toFixed(4)))
    for (const x of p.popular) add(p, 'popular', x.title ?? x.root, x.requesters.value, Number(x.requesters.margin.toFixed(2)))
  }
  return rows.map(row => row.map(csvCell).join(',')).join('\n') + '\n'
}

export function reportJson (r: CommunityReport): string {
  return JSON.stringify(r, null, 2) + '\n'
}
