import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CMESH_BIN, runCli } from '../helpers/cli.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'
import { canonicalDeflate, gzipAround, packageFiles, sha256, tarOf, writeTree } from '../dag/archive-helpers.js'

const MODULE_LOG = fileURLToPath(new URL('../helpers/module-log.js', import.meta.url))
/** The command as it ships: the bundle (the rest of the suite runs dist/src's modules, for coverage). */
const BUNDLE = { CMESH_NO_BUNDLE: '0' }

describe('the bundled command', () => {
  it('imports in its worker threads, rebuilds an archive in its canonical-zlib worker, and runs from the bundle alone', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    // over 1 MiB: cut and hashed by the chunk workers
    const data = pseudoRandom(3_000_000, 97)
    writeFileSync(join(dir, 'big'), data)
    const log = join(dir, 'modules.log')
    const added = await runCli(['add', join(dir, 'big'), '--repo', repo], { ...BUNDLE, CMESH_MODULE_LOG: log }, { nodeArgs: ['--import', MODULE_LOG] })
    assert.equal(added.code, 0, added.stderr)
    const ours = readFileSync(log, 'utf8').split('\n').filter(u => u.includes('/dist/'))
    assert.ok(ours.some(u => u.includes('/dist/bundle/')), 'the bundle ran')
    assert.deepEqual(ours.filter(u => u.includes('/dist/src/')), [], 'and no module of dist/src')
    const back = await runCli(['cat', added.stdout.trim(), '--repo', repo], BUNDLE)
    assert.equal(back.code, 0, back.stderr)
    assert.ok(back.stdoutBytes.equals(data))

    // a tarball canonical zlib made is rebuilt, byte for byte, in the worker that runs canonical zlib
    writeTree(dir, packageFiles(5))
    const tar = tarOf(dir)
    writeFileSync(join(dir, 'pkg.tgz'), gzipAround([canonicalDeflate(tar, 9)], tar, 2, 255))
    const archive = await runCli(['add', join(dir, 'pkg.tgz'), '--repo', repo, '--json'], BUNDLE)
    assert.equal(archive.code, 0, archive.stderr)
    const report = JSON.parse(archive.stdout) as { cid: string, archive: { stored: string, settings: { compressor: string } } }
    assert.equal(report.archive.stored, 'recipe')
    assert.equal(report.archive.settings.compressor, 'canonical')
    const rebuilt = await runCli(['cat', report.cid, '--repo', repo], BUNDLE)
    assert.equal(rebuilt.code, 0, rebuilt.stderr)
    assert.equal(sha256(rebuilt.stdoutBytes), sha256(readFileSync(join(dir, 'pkg.tgz'))))
  })

  it('fetches from a daemon over the network stack it bundles', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(400_000, 98)
    writeFileSync(join(dir, 'f'), data)
    const seeder = join(dir, 'seeder')
    const cid = (await runCli(['add', join(dir, 'f'), '--repo', seeder], BUNDLE)).stdout.trim()
    const daemon = spawn(
      process.execPath,
      [CMESH_BIN, 'daemon', '--repo', seeder, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...BUNDLE } }
    )
    const exited = once(daemon, 'exit')
    t.after(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL') })
    const [line] = await once(createInterface({ input: daemon.stdout }), 'line') as [string]
    const addr = (JSON.parse(line) as { addrs: string[] }).addrs[0]!

    const leecher = join(dir, 'leecher')
    const fetched = await runCli(['fetch', cid, '--repo', leecher, '--no-mdns', '--bootstrap', addr, '--json'], BUNDLE)
    assert.equal(fetched.code, 0, fetched.stderr)
    assert.equal((JSON.parse(fetched.stdout) as { bytes: number }).bytes > 0, true)
    const back = await runCli(['cat', cid, '--repo', leecher], BUNDLE)
    assert.ok(back.stdoutBytes.equals(data))
    daemon.kill('SIGTERM')
    await exited
  })
})
