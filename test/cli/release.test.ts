import assert from 'node:assert/strict'
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { CMESH_BIN, runCli, runMain } from '../helpers/cli.js'
import { serveDir } from '../helpers/static-server.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

describe('cmesh keygen, publish, trust, update, releases', () => {
  it('publishes a signed release that another repository installs from a plain HTTP mirror', async t => {
    const dir = tempDir(t)
    const pkg = join(dir, 'pkg')
    mkdirSync(join(pkg, 'lib'), { recursive: true })
    writeFileSync(join(pkg, 'lib', 'a.bin'), pseudoRandom(200_000, 3))
    writeFileSync(join(pkg, 'README'), 'hello\n')
    const www = join(dir, 'www')
    cpSync(pkg, www, { recursive: true })
    const server = await serveDir(t, www)
    const pubRepo = join(dir, 'pub')
    const userRepo = join(dir, 'user')

    const kg = await runCli(['keygen', '-o', join(dir, 'key.pem'), '--json'])
    assert.equal(kg.code, 0, kg.stderr)
    const { publicKey } = JSON.parse(kg.stdout) as { publicKey: string }
    assert.match(publicKey, /^ed25519:/)

    const pub = await runCli([
      'publish',
      pkg,
      '--repo',
      pubRepo,
      '--name',
      'pkg',
      '--version',
      '1.0.0',
      '--key',
      join(dir, 'key.pem'),
      '--mirror',
      server.url,
      '-o',
      join(www, 'pkg.cmesh'),
      '--json'
    ])
    assert.equal(pub.code, 0, pub.stderr)
    const published = JSON.parse(pub.stdout) as { root: string, seq: number, release: string }
    assert.equal(published.seq, 1)

    // not trusted yet: refused, one line, non-zero exit (main in this process; update runs as the binary below)
    const refused = await runMain([
      'update',
      'pkg',
      '--repo',
      userRepo,
      '--manifest',
      `${server.url}/pkg.cmesh`, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0']
    )
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /ERR_UNTRUSTED_KEY/)
    assert.equal(refused.stderr.trim().split('\n').length, 1)

    const tr = await runCli(['trust', 'add', 'pkg', publicKey, '--repo', userRepo])
    assert.equal(tr.code, 0, tr.stderr)
    const ls = await runCli(['trust', 'ls', '--repo', userRepo, '--json'])
    assert.deepEqual(JSON.parse(ls.stdout), [{ name: 'pkg', keys: [publicKey] }])

    const up = await runCli([
      'update',
      'pkg',
      '--repo',
      userRepo,
      '--manifest',
      `${server.url}/pkg.cmesh`, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--json']
    )
    assert.equal(up.code, 0, up.stderr)
    const r = JSON.parse(up.stdout) as { version: string, root: string, wireBytes: number, size: number }
    assert.equal(r.version, '1.0.0')
    assert.equal(r.root, published.root)
    assert.ok(r.wireBytes >= r.size)

    const rel = await runCli(['releases', '--repo', userRepo, '--json'])
    assert.equal((JSON.parse(rel.stdout) as Array<{ name: string, seq: number }>)[0]?.seq, 1)
    const v = await runCli(['verify', '--repo', userRepo])
    assert.equal(v.code, 0, v.stderr)
  })

  it('updates through the running daemon, which gets the release from its peers', async t => {
    const dir = tempDir(t)
    const pkg = join(dir, 'pkg')
    mkdirSync(pkg)
    writeFileSync(join(pkg, 'a.bin'), pseudoRandom(150_000, 9))
    const pubRepo = join(dir, 'pub')
    const userRepo = join(dir, 'user')
    const { publicKey } = JSON.parse((await runCli(['keygen', '-o', join(dir, 'key.pem'), '--json'])).stdout) as { publicKey: string }
    const pub = await runCli(['publish', pkg, '--repo', pubRepo, '--name', 'pkg', '--version', '1.0.0', '--key', join(dir, 'key.pem'), '--json'])
    assert.equal(pub.code, 0, pub.stderr)
    const start = async (repo: string, extra: string[]): Promise<{ addrs: string[], gateway?: string }> => {
      const child = spawn(
        process.execPath,
        [CMESH_BIN, 'daemon', '--repo', repo, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', ...extra],
        { stdio: ['ignore', 'pipe', 'inherit'] }
      )
      const exited = once(child, 'exit')
      t.after(async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await exited } })
      const [line] = await once(createInterface({ input: child.stdout }), 'line') as [string]
      return JSON.parse(line) as { addrs: string[], gateway?: string }
    }
    const publisher = await start(pubRepo, ['--gateway', '127.0.0.1:0'])
    assert.match(publisher.gateway ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
    const root = (JSON.parse(pub.stdout) as { root: string }).root
    const raw = await fetch(`${publisher.gateway!}/ipfs/${root}?format=raw`)
    assert.equal(raw.status, 200)
    await raw.arrayBuffer()
    await start(userRepo, ['--bootstrap', publisher.addrs[0]!])
    assert.equal((await runCli(['trust', 'add', 'pkg', publicKey, '--repo', userRepo])).code, 0)
    const up = await runCli(['update', 'pkg', '--repo', userRepo, '--json'])
    assert.equal(up.code, 0, up.stderr)
    const r = JSON.parse(up.stdout) as { version: string, root: string, bundleBytes: number }
    assert.equal(r.root, root)
    assert.ok(r.bundleBytes > 0 && r.bundleBytes < 2000, `an envelope alone: ${r.bundleBytes} bytes`)
    const again = await runCli(['update', 'pkg', '--repo', userRepo, '--json'])
    assert.equal((JSON.parse(again.stdout) as { upToDate: boolean }).upToDate, true)
    const unknown = await runCli(['update', 'nothing', '--repo', userRepo])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /ERR_RELEASE_NOT_FOUND/)
  })

  it('refuses bad command lines with one line and exit 2', async t => {
    const dir = tempDir(t)
    const cases = [
      ['keygen'],
      ['keygen', '-o', join(dir, 'k'), '--type', 'rsa'],
      ['publish', dir, '--version', '1', '--key', 'k'],
      ['trust', 'add', 'x'],
      ['update']
    ]
    // the binary for the first, main in this process for the others (the same parsing)
    for (const [i, args] of cases.entries()) {
      const r = await (i === 0 ? runCli : runMain)([...args, '--repo', join(dir, 'repo')])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stderr.trim().split('\n').length, 1)
    }
    const badKey = await runMain(['trust', 'add', 'pkg', 'ed25519:nonsense', '--repo', join(dir, 'repo')])
    assert.equal(badKey.code, 1)
    assert.match(badKey.stderr, /ERR_KEY/)
  })
})
