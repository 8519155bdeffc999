import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runCli, runMain } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'
import { gzipFile, packageFiles, sha256, sourceText, syncFlushedGzip, tarOf, writeTree } from '../dag/archive-helpers.js'

describe('cmesh and archives', () => {
  it('adds a .tgz member by member, lists and reads its members, and gives the archive back byte for byte', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const files = packageFiles(11)
    writeTree(dir, files)
    const tgz = gzipFile(join(dir, 'pkg-1.0.11.tgz'), tarOf(dir), { level: 9 })

    const added = await runCli(['add', tgz, '--repo', repo, '--json'])
    assert.equal(added.code, 0, added.stderr)
    const info = JSON.parse(added.stdout) as { cid: string, size: number, archive: { format: string, stored: string, members: number } }
    assert.equal(info.size, readFileSync(tgz).length)
    assert.deepEqual([info.archive.format, info.archive.stored], ['tar+gzip', 'recipe'])
    assert.equal(info.archive.members, 8, '5 files and 3 directories')

    const listed = await runMain(['ls', `${info.cid}/pkg/lib`, '--repo', repo])
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /index\.js/)
    assert.match(listed.stdout, /util\.js/)
    const member = await runMain(['cat', `${info.cid}/pkg/lib/util.js`, '--repo', repo])
    assert.equal(member.code, 0, member.stderr)
    assert.equal(member.stdout, files['lib/util.js'])

    const whole = await runCli(['cat', info.cid, '--repo', repo])
    assert.equal(sha256(whole.stdoutBytes), sha256(readFileSync(tgz)))
    const out = join(dir, 'got.tgz')
    const got = await runCli(['get', info.cid, '-o', out, '--repo', repo])
    assert.equal(got.code, 0, got.stderr)
    assert.equal(sha256(readFileSync(out)), sha256(readFileSync(tgz)))

    const raw = JSON.parse((await runMain(['add', tgz, '--raw', '--repo', repo, '--json'])).stdout) as { cid: string, archive: unknown }
    assert.equal(raw.archive, null)
    assert.notEqual(raw.cid, info.cid)
    const notDir = await runMain(['ls', raw.cid, '--repo', repo])
    assert.notEqual(notDir.code, 0, 'a raw archive has no members to list')
  })

  it('says which path an archive took (a delta here) and reads it back byte for byte', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    writeTree(dir, { ...packageFiles(12), 'lib/more.js': sourceText(600_000, 24) })
    const tgz = join(dir, 'pkg-1.0.12.tgz')
    writeFileSync(tgz, await syncFlushedGzip(tarOf(dir), 40_000))
    const added = await runCli(['add', tgz, '--repo', repo, '--json'])
    assert.equal(added.code, 0, added.stderr)
    const info = JSON.parse(added.stdout) as { cid: string, archive: { stored: string, deltaBytes: number, settings: { compressor: string, level: number } } }
    assert.equal(info.archive.stored, 'delta')
    assert.ok(info.archive.deltaBytes > 0)
    assert.deepEqual([info.archive.settings.compressor, info.archive.settings.level], ['node', 9])
    const whole = await runMain(['cat', info.cid, '--repo', repo])
    assert.equal(whole.code, 0, whole.stderr)
    assert.equal(sha256(whole.stdoutBytes), sha256(readFileSync(tgz)))
  })
})
