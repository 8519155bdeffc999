import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { CMESH_BIN, runCli } from '../helpers/cli.js'
import { Origin } from '../helpers/origin.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

describe('cmesh get-url and cmesh proxy', () => {
  it('gets a URL into a file, through a running proxy node too, and fails clearly offline', async t => {
    const origin = new Origin()
    await origin.start()
    t.after(async () => await origin.stop())
    const bytes = pseudoRandom(70_000, 5)
    origin.set('/file.bin', { bytes, headers: { 'cache-control': 'max-age=600' } })
    const dir = tempDir(t)
    const net = ['--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0']
    // the origin is on loopback, which names another server on every machine: sharing it is turned on for the test
    const env = { CMESH_SHARE_LOOPBACK: '1' }
    const alone = await runCli(['get-url', origin.url('/file.bin'), '-o', join(dir, 'a.bin'), '--json', '--repo', join(dir, 'alone'), ...net], env)
    assert.equal(alone.code, 0, alone.stderr)
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'a.bin'))), bytes)
    const first = JSON.parse(alone.stdout)
    assert.equal(first.source, 'origin')
    assert.deepEqual([first.cache, first.originBytes, first.memberBytes, first.storeBytes, first.savedBytes], ['MISS', bytes.length, 0, 0, 0])

    const repo = join(dir, 'proxy')
    const child = spawn(
      process.execPath,
      [CMESH_BIN, 'proxy', '--repo', repo, '--port', '0', '--host', '127.0.0.1', '--allow-loopback-destinations', '--json', ...net],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } }
    )
    const exited = once(child, 'exit')
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    const [line] = await once(createInterface({ input: child.stdout }), 'line') as [string]
    const proxyUrl = new URL((JSON.parse(line) as { proxy: string }).proxy)
    const viaProxy = await new Promise<Buffer>((resolve, reject) => {
      request({ host: proxyUrl.hostname, port: Number(proxyUrl.port), path: origin.url('/file.bin') }, res => {
        const parts: Buffer[] = []
        res.on('data', d => parts.push(d))
        res.on('end', () => resolve(Buffer.concat(parts)))
      }).on('error', reject).end()
    })
    assert.deepEqual(new Uint8Array(viaProxy), bytes)
    // `cmesh get-url` on the proxy's repository goes through the running node: its cache already holds the file
    const through = await runCli(['get-url', origin.url('/file.bin'), '-o', join(dir, 'b.bin'), '--json', '--repo', repo], env)
    assert.equal(through.code, 0, through.stderr)
    const held = JSON.parse(through.stdout)
    assert.equal(held.source, 'local')
    assert.deepEqual([held.cache, held.originBytes, held.memberBytes, held.storeBytes, held.savedBytes], ['HIT', 0, 0, bytes.length, bytes.length])
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'b.bin'))), bytes)
    const text = await runCli(['get-url', origin.url('/file.bin'), '-o', join(dir, 'c.bin'), '--repo', repo], env)
    assert.match(text.stdout, /: 70000 bytes from this node's cache \[HIT\] -> .*c\.bin \(through the daemon\)\n$/)
    assert.equal(origin.requestsByPath.get('/file.bin'), 2, 'one download for the lone node, one for the proxy node')
    await origin.stop()
    const offline = await runCli(['get-url', origin.url('/other.bin'), '--repo', repo])
    assert.equal(offline.code, 1)
    assert.match(offline.stderr, /\[ERR_URL_UNAVAILABLE\]\n$/)
    const bad = await runCli(['get-url', 'ftp://example.org/x', '--repo', repo])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /\[ERR_INVALID_URL\]/)
    assert.equal((await runCli(['get-url', '--repo', repo])).code, 2)
    child.kill('SIGTERM')
    await exited
  })
})
