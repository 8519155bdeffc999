import type { CommunityReport, Estimate } from './aggregate.js'
import { est, explain, fmt, pct } from './report-text.js'

/** Escape text for HTML (resource titles come from announcements: untrusted). */
export const esc = (s: string): string => s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

interface Bar { label: string, value: number, margin?: number }

/** A bar chart as inline SVG: one bar a period, with the noise margin as a whisker. */
export function barChart (title: string, bars: Bar[], options: { unit?: string, digits?: number, max?: number } = {}): string {
  const width = 640
  const height = 220
  const left = 56
  const bottom = 40
  const top = 28
  const plotH = height - top - bottom
  const max = options.max ?? Math.max(1, ...bars.map(b => Math.max(0, b.value) + (b.margin ?? 0)))
  const slot = (width - left - 10) / Math.max(1, bars.length)
  const barW = Math.max(4, Math.min(48, slot * 0.6))
  const y = (v: number): number => top + plotH - (Math.max(0, Math.min(max, v)) / max) * plotH
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}">`,
    `<text x="${left}" y="18" class="t">${esc(title)}</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${width - 10}" y2="${top + plotH}" class="axis"/>`,
    `<text x="${left - 6}" y="${top + 4}" class="a" text-anchor="end">${esc(fmt(max, options.digits ?? 0))}</text>`,
    `<text x="${left - 6}" y="${top + plotH}" class="a" text-anchor="end">0</text>`
  ]
  bars.forEach((b, i) => {
    const cx = left + slot * i + slot / 2
    const v = Math.max(0, b.value)
    // a bar whose margin is larger than itself is drawn pale and says so
    const noisy = b.margin !== undefined && b.margin > v
    const tip = `${b.label}: ${noisy ? 'too noisy, ' : ''}${fmt(v, options.digits ?? 0)}${b.margin === undefined ? '' : ` ± ${fmt(b.margin, options.digits ?? 0)}`}${options.unit ?? ''}`
    parts.push(`<rect x="${(cx - barW / 2).toFixed(1)}" y="${y(v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" class="${noisy ? 'b n' : 'b'}" data-value="${v}"><title>${esc(tip)}</title></rect>`)
    if (b.margin !== undefined && b.margin > 0) {
      parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(v + b.margin).toFixed(1)}" y2="${y(v - b.margin).toFixed(1)}" class="m"/>`)
    }
    parts.push(`<text x="${cx.toFixed(1)}" y="${height - bottom + 16}" class="a" text-anchor="middle">${esc(b.label.replace(/^week of /, ''))}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d2733}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:2px solid #d8e1ea}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr));gap:1em}
.scroll{overflow-x:auto}td{overflow-wrap:anywhere}
svg{width:100%;height:auto;background:#f7f9fb;border-radius:6px}
.t{font-size:14px;font-weight:600;fill:#1d2733}.a{font-size:11px;fill:#5b6b7b}.axis{stroke:#9aa9b8}
.b{fill:#2f7d6d}.b.n{fill:#b9c7d3}.m{stroke:#1d2733;stroke-width:1.5}
table{border-collapse:collapse;width:100%;margin:.6em 0}td,th{border-bottom:1px solid #e3e9ef;padding:.3em .5em;text-align:right}
td:first-child,th:first-child{text-align:left}.note{color:#5b6b7b;font-size:.92em}.big{font-size:2em;font-weight:700;color:#2f7d6d}.big.noisy{color:#8a97a5}
.margin{color:#5b6b7b;font-size:.95em}.glance{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(200px,100%),1fr));gap:1em;margin:.6em 0}`

/** The HTML report: one self-contained file (inline CSS and SVG, no scripts, nothing fetched) to show at a meeting. */
export function reportHtml (r: CommunityReport): string {
  const ps = r.periods
  const last = ps[ps.length - 1]
  const out: string[] = [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>Community network report</title><style>${STYLE}</style></head><body>`,
    '<h1>Community network report</h1>',
    `<p class="note">Generated ${esc(r.generated)} from ${r.reports} node reports, by ${esc(r.period)}.</p>`
  ]
  if (last === undefined) {
    out.push('<p>No reports yet: nodes release one per period.</p></body></html>')
    return out.join('\n')
  }
  /** A headline figure: its value and margin, or "too noisy" in their place when the margin is larger. */
  const glance = (e: Estimate, unit: string, what: string, digits = 0): string => e.tooNoisy
    ? `<div><div class="big noisy">too noisy</div>${esc(what)} <span class="note">(${esc(fmt(e.value, digits))} ± ${esc(fmt(e.margin, digits))}${unit})</span></div>`
    : `<div><div class="big">${esc(fmt(e.value, digits))}${unit}</div><div class="margin">± ${esc(fmt(e.margin, digits))}${unit}</div>${esc(what)}</div>`
  out.push(
    '<h2>At a glance</h2><div class="glance">',
    `<div><div class="big">${last.nodesOnline}</div><div class="margin">counted, not noised</div>nodes reported (${esc(last.label)})</div>`,
    glance(last.savedMB, ' MB', 'external bandwidth saved'),
    `<div><div class="big${last.savedShare === null ? ' noisy' : ''}">${esc(pct(last.savedShare))}</div>of the bytes came from inside the community</div>`,
    glance(last.segmentPeers, '', 'peers on a node\'s own segment (mean)', 1),
    '</div>',
    '<h2>Network health</h2><div class="charts">',
    barChart('Nodes online', ps.map(p => ({ label: p.label, value: p.nodesOnline }))),
    barChart('MB moved into nodes per hour', ps.map(p => ({ label: p.label, value: p.throughputMBPerHour.value, margin: p.throughputMBPerHour.margin })), { digits: 1 }),
    barChart('Errors per resource fetched (%)', ps.map(p => ({ label: p.label, value: 100 * (p.errorRate ?? 0) })), { digits: 1 }),
    barChart('Peers on a node\'s own segment (mean)', ps.map(p => ({ label: p.label, value: p.segmentPeers.value, margin: p.segmentPeers.margin })), { digits: 1 }),
    '</div>',
    '<h2>Community benefit</h2><div class="charts">',
    barChart('External bandwidth saved (MB)', ps.map(p => ({ label: p.label, value: p.savedMB.value, margin: p.savedMB.margin }))),
    barChart('Share of bytes from inside the community (%)', ps.map(p => ({ label: p.label, value: 100 * (p.savedShare ?? 0) })), { digits: 1, max: 100 }),
    '</div>',
    '<h2>Growth and adoption</h2><div class="charts">',
    barChart('New nodes', ps.map(p => ({ label: p.label, value: p.newNodes.value, margin: p.newNodes.margin }))),
    barChart('Resources fetched', ps.map(p => ({ label: p.label, value: p.totals.resources!.value, margin: p.totals.resources!.margin }))),
    '</div>',
    '<h2>Popular resources</h2>'
  )
  for (const p of ps) {
    out.push(`<h3>${esc(p.label)}</h3>`)
    if (p.popular.length === 0) { out.push('<p class="note">None passed the threshold.</p>'); continue }
    out.push('<div class="scroll"><table><tr><th>resource</th><th>requesting nodes</th></tr>')
    for (const x of p.popular) out.push(`<tr><td>${esc(x.title ?? x.root)}</td><td>${esc(est(x.requesters))}</td></tr>`)
    out.push('</table></div>')
  }
  out.push('<h2>Figures</h2><div class="scroll"><table><tr><th>period</th><th>nodes</th><th>uptime h</th><th>MB served</th><th>MB from neighbours</th><th>MB from outside</th><th>cache hits</th><th>errors</th></tr>')
  for (const p of ps) {
    const t = p.totals
    out.push(`<tr><td>${esc(p.label)}</td><td>${p.nodesOnline}</td><td>${esc(est(t.uptimeHours!))}</td><td>${esc(est(t.servedMB!))}</td><td>${esc(est(t.peerMB!))}</td><td>${esc(est(t.externalMB!))}</td><td>${esc(est(t.cacheHits!))}</td><td>${esc(est(t.errors!))}</td></tr>`)
  }
  out.push('</table></div>', `<p class="note">${esc(explain(r))}</p>`, '</body></html>')
  return out.join('\n')
}
