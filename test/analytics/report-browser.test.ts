import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { describe, it } from 'node:test'
import { combineReports } from '../../src/analytics/aggregate.js'
import { periodStart } from '../../src/analytics/period.js'
import { noisyRelease } from '../../src/analytics/release.js'
import { renderReport } from '../../src/analytics/report.js'
import { tempDir } from '../helpers/temp.js'
import { seededUniform } from '../helpers/seeded.js'

const run = promisify(execFile)
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(p => existsSync(p))
const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

/** Six weeks of a 40-node community, some of whose figures stand above their noise, and a long untrusted title. */
export function sampleReport (): string {
  const uniform = seededUniform(20261207)
  const caps = { peerMB: 200, savedMB: 200, externalMB: 200, mirrorMB: 200, servedMB: 200, segmentPeers: 6, peers: 10, resources: 8, errors: 2 }
  const releases = []
  for (let w = 0; w < 6; w++) {
    const start = periodStart('week', Date.UTC(2026, 9, 26) + w * 7 * 86_400_000)
    for (let i = 0; i < 40; i++) {
      releases.push(noisyRelease({
        period: 'week',
        start,
        counters: {
          'bytes.received.peer': (60 + 15 * w) * 1e6,
          'external.bytes.saved': 40e6,
          'external.bytes': 30e6,
          'bytes.served': 90e6,
          'uptime.seconds': 120 * 3600,
          'resources.fetched': 6,
          errors: i % 9 === 0 ? 1 : 0,
          'segment.peers': 3,
          'peers.seen': 6,
          'new.node': w === 0 ? 1 : 0
        },
        requested: new Set(i < 30 ? [ROOT] : []),
        catalog: [ROOT],
        epsilon: 20,
        maxResources: 1,
        caps
      }, uniform))
    }
  }
  const titles = new Map([[ROOT, 'Fractions for the long winter evenings: a very long lesson title that goes on and on <b>bold</b>']])
  return renderReport(combineReports(releases, { period: 'week', threshold: 5, titles, now: () => Date.UTC(2026, 11, 7) }), 'html')
}

/** Measures the page as laid out: horizontal overflow, and each chart's bars. Added to a copy only: reports run no script. */
const PROBE = `<script>
addEventListener('load', () => {
  const d = document.documentElement
  const charts = [...document.querySelectorAll('svg')].map(s => ({
    title: s.getAttribute('aria-label'),
    bars: [...s.querySelectorAll('rect.b')].map(r => Number(r.getAttribute('data-value'))),
    width: s.getBoundingClientRect().width
  }))
  const wide = [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > d.clientWidth + 1).map(e => e.tagName + '.' + e.className)
  const out = document.createElement('pre')
  out.id = 'probe'
  out.textContent = JSON.stringify({ scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, wide, charts })
  document.body.append(out)
})
</script>`

interface Probe { scrollWidth: number, clientWidth: number, wide: string[], charts: Array<{ title: string, bars: number[], width: number }> }

async function probe (file: string, width: number): Promise<Probe> {
  const { stdout } = await run(CHROMIUM!, [
    '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--window-size=${width},900`, '--virtual-time-budget=2000', '--dump-dom', pathToFileURL(file).href
  ], { timeout: 120_000, maxBuffer: 16 << 20 })
  const m = /<pre id="probe">(.*?)<\/pre>/s.exec(stdout)
  assert.ok(m !== null, 'the probe ran in the page')
  return JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as Probe
}

describe('the HTML report in a browser', { skip: CHROMIUM === undefined ? 'no chromium (.ci/run installs it)' : false }, () => {
  it('lays out without horizontal overflow on a phone and a laptop, and every chart has a bar for every period', async t => {
    const dir = tempDir(t)
    const html = sampleReport()
    assert.doesNotMatch(html, /<script/)
    const file = join(dir, 'report.html')
    writeFileSync(file, html.replace('</body>', `${PROBE}</body>`))
    for (const width of [390, 1280]) {
      const p = await probe(file, width)
      assert.ok(p.scrollWidth <= p.clientWidth, `at ${width} px the page is ${p.scrollWidth} px wide: ${p.wide.slice(0, 5).join(', ')}`)
      assert.equal(p.charts.length, 8)
      for (const c of p.charts) {
        assert.equal(c.bars.length, 6, `${c.title}: ${c.bars.length} bars`)
        assert.ok(c.bars.every(v => Number.isFinite(v) && v >= 0), `${c.title}: ${c.bars.join(' ')}`)
        assert.ok(c.width > 100 && c.width <= p.clientWidth, `${c.title} is ${c.width} px wide`)
      }
      // the figures this community's noise lets through have bars above zero
      for (const title of ['Nodes online', 'External bandwidth saved (MB)', 'Resources fetched']) {
        assert.ok(p.charts.find(c => c.title === title)!.bars.every(v => v > 0), `${title} has empty bars`)
      }
    }
    // and a picture of it, as a person sees it
    const png = join(dir, 'report.png')
    const plain = join(dir, 'plain.html')
    writeFileSync(plain, html)
    await run(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--window-size=1000,1400', `--screenshot=${png}`, pathToFileURL(plain).href], { timeout: 120_000 })
    assert.ok(statSync(png).size > 10_000)
    assert.deepEqual([...readFileSync(png).subarray(1, 4)], [0x50, 0x4e, 0x47])
  })
})
