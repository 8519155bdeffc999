import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { CMESH_BIN, runCli } from '../helpers/cli.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

describe('cmesh daemon and fetch', () => {
  it('serves blocks from a daemon to `cmesh fetch`, and stops cleanly on SIGTERM', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(500_000, 71)
    writeFileSync(join(dir, 'f'), data)
    const seeder = join(dir, 'seeder')
    const cid = (await runCli(['add', join(dir, 'f'), '--repo', seeder])).stdout.trim()

    const daemon = spawn(process.execPath, [CMESH_BIN, 'daemon', '--repo', seeder, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--upload-limit', '50MB/s'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(daemon, 'exit')
    t.after(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL') })
    const [line] = await once(createInterface({ input: daemon.stdout }), 'line') as [string]
    const ready = JSON.parse(line) as { peerId: string, addrs: string[] }
    assert.match(ready.peerId, /^12D3Koo/)
    const addr = ready.addrs.find(a => a.startsWith('/ip4/127.0.0.1/'))!

    const leecher = join(dir, 'leecher')
    const fetched = await runCli(['fetch', cid, '--repo', leecher, '--bootstrap', addr, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    assert.equal(fetched.code, 0, fetched.stderr)
    const report = JSON.parse(fetched.stdout) as { cid: string, bytes: number, seconds: number, sources: Record<string, number> }
    assert.equal(report.cid, cid)
    assert.ok(report.bytes >= data.length)
    assert.deepEqual(Object.keys(report.sources), [ready.peerId])
    const copy = await runCli(['cat', cid, '--repo', leecher])
    assert.deepEqual(copy.stdoutBytes, Buffer.from(data))

    const missing = await runCli(['fetch', 'bafkr4ibc7z4xu3k4zqmqhsy6yyenhbnz3wfxkr5k2r4rcfzaxbxcsemdoy', '--repo', leecher, '--bootstrap', addr, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^cmesh: no source has block .+ \(tried: 12D3Koo\S+\) \[ERR_FETCH_FAILED\]\n$/)

    const bad = await runCli(['daemon', '--repo', join(dir, 'other'), '--upload-limit', 'fast', '--no-mdns'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--upload-limit.*\[ERR_USAGE\]/)

    daemon.kill('SIGTERM')
    const [code] = await exited as [number]
    assert.equal(code, 0)
  })
})
