import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Analytics } from '../../src/analytics/analytics.js'
import { CMESH_BIN, runCli, runMain } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise(resolve => s.close(resolve))
  return port
}

describe('cmesh report and monitoring', () => {
  it('writes the community report as md, html, csv and json from the aggregates a repo holds', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    // three weeks of releases from two nodes' repositories, combined in one (as gossip would)
    const weeks = [Date.UTC(2026, 9, 5), Date.UTC(2026, 9, 12), Date.UTC(2026, 9, 19)]
    const holder = new Analytics(repo, { enabled: true, policy: { epsilonPerPeriod: 1 } })
    for (const [i, w] of weeks.entries()) {
      const other = new Analytics(join(dir, `other-${i}`), { enabled: true, now: () => w + 3600_000, policy: { epsilonPerPeriod: 1 } })
      other.metrics.count('bytes.received.peer', 40e6)
      holder.receive((await other.release()).bytes)
      await other.stop()
    }
    await holder.stop()

    const md = await runCli(['report', '--repo', repo, '--format', 'md', '--period', 'week'])
    assert.equal(md.code, 0, md.stderr)
    assert.match(md.stdout, /^# Community network report/)
    assert.match(md.stdout, /week of 2026-10-05/)
    assert.match(md.stdout, /week of 2026-10-19/)
    const html = join(dir, 'report.html')
    assert.equal((await runCli(['report', '--repo', repo, '--format', 'html', '-o', html])).code, 0)
    const page = readFileSync(html, 'utf8')
    assert.match(page, /^<!doctype html>/)
    assert.equal((page.match(/<svg /g) ?? []).length, 8)
    // the other formats and refusals: main in this process (the same command; md and html ran as the binary)
    const csv = await runMain(['report', '--repo', repo, '--format', 'csv', '--period', 'month'])
    assert.match(csv.stdout.split('\n')[0]!, /^period,period_start,section,name,value,margin95,too_noisy$/)
    assert.ok(csv.stdout.includes('2026-10,2026-10-01T00:00:00.000Z,health,nodesOnline,1'))
    const json = JSON.parse((await runMain(['report', '--repo', repo, '--json'])).stdout) as { reports: number, periods: unknown[] }
    assert.equal(json.reports, 3)
    assert.equal(json.periods.length, 3)

    // a new community need not wait a week: release now, without a daemon, and the report has this period
    const fresh = join(dir, 'fresh')
    const now = await runCli(['report', '--release', '--repo', fresh])
    assert.equal(now.code, 0, now.stderr)
    assert.match(now.stdout, /^released the week from \S+ at epsilon 1 to 0 peers now/)
    const first = JSON.parse((await runMain(['report', '--repo', fresh, '--json'])).stdout) as { reports: number, periods: Array<{ nodesOnline: number }> }
    assert.deepEqual([first.reports, first.periods[0]!.nodesOnline], [1, 1])

    const bad = await runMain(['report', '--repo', repo, '--format', 'pdf'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /^cmesh: .*\[ERR_USAGE\]\n$/)
    assert.equal((await runMain(['report', '--repo', repo, '--period', 'year'])).code, 2)
  })

  it('a daemon serves /metrics and /health on its API port, 127.0.0.1', async t => {
    const repo = join(tempDir(t), 'repo')
    const port = await freePort()
    const daemon = spawn(
      process.execPath,
      [CMESH_BIN, 'daemon', '--repo', repo, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', String(port)],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    const exited = once(daemon, 'exit')
    t.after(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL') })
    const [line] = await once(createInterface({ input: daemon.stdout }), 'line') as [string]
    assert.equal((JSON.parse(line) as { api: string }).api, `http://127.0.0.1:${port}`)
    const res = await fetch(`http://127.0.0.1:${port}/metrics`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    const text = await res.text()
    assert.match(text, /^# TYPE cmesh_uptime_seconds gauge$/m)
    assert.match(text, /^cmesh_process_cpu_seconds_total /m)
    assert.match(text, /^cmesh_store_blocks 0$/m)
    const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json() as { status: string }
    assert.equal(health.status, 'ok')
    // release now, through the daemon: its route spends the period's budget and says so
    const released = await runCli(['report', '--release', '--repo', repo, '--json'])
    assert.equal(released.code, 0, released.stderr)
    const r = JSON.parse(released.stdout) as { period: string, epsilon: number, recipients: number, spent: { period: number } }
    assert.deepEqual([r.period, r.epsilon, r.recipients, r.spent.period], ['week', 1, 0, 1])
    const again = await runCli(['report', '--release', '--repo', repo])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^cmesh: .*\[ERR_PRIVACY_BUDGET\]\n$/)
    daemon.kill('SIGTERM')
    const [code] = await exited as [number]
    assert.equal(code, 0)
    const bad = await runCli(['daemon', '--repo', repo, '--no-mdns', '--metrics', 'nowhere'])
    assert.equal(bad.code, 2)
  })
})
