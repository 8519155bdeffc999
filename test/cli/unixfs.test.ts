import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { CID } from 'multiformats/cid'
import { runCli, runMain } from '../helpers/cli.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'
import { unixfsFixture, writeFixtureCar } from '../helpers/unixfs.js'

describe('cmesh on standard IPFS (UnixFS) content', () => {
  it('imports a CAR from IPFS tools, then lists, reads, ranges, gets and verifies it', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const data = pseudoRandom(120_000, 5)
    const fixture = await unixfsFixture([
      { path: 'release/app.bin', content: data, mode: 0o755 },
      { path: 'release/notes/CHANGES', content: new TextEncoder().encode('v2: faster\n') },
      { path: 'release/current', link: 'app.bin' }
    ], { rawLeaves: true, cidVersion: 1, chunker: fixedSize({ chunkSize: 16_384 }) })
    const car = join(dir, 'release.car')
    await writeFixtureCar(fixture, car)
    const root = fixture.root.toString()

    const imported = await runCli(['import', car, '--repo', repo, '--json'])
    assert.equal(imported.code, 0, imported.stderr)
    assert.deepEqual((JSON.parse(imported.stdout) as { complete: string[] }).complete, [root])

    const ls = await runCli(['ls', root, '--repo', repo])
    assert.equal(ls.code, 0, ls.stderr)
    assert.match(ls.stdout, /^file\s+0755\s+120000 \S+ app\.bin$/m)
    assert.match(ls.stdout, /^symlink 0644\s+0 -> app\.bin current$/m)
    assert.match(ls.stdout, /^dir\s+0755\s+\d+ \S+ notes$/m)

    assert.equal((await runCli(['cat', `${root}/notes/CHANGES`, '--repo', repo])).stdout, 'v2: faster\n')
    const range = await runMain(['cat', `/ipfs/${root}/app.bin`, '--offset', '16000', '--length', '40000', '--repo', repo])
    assert.equal(range.code, 0, range.stderr)
    assert.deepEqual(range.stdoutBytes, Buffer.from(data.subarray(16_000, 56_000)))
    const notDir = await runMain(['ls', `${root}/app.bin`, '--repo', repo])
    assert.equal(notDir.code, 1)
    assert.match(notDir.stderr, /is a file, not a directory \[ERR_NOT_IN_DAG\]/)

    const out = join(dir, 'out')
    const get = await runCli(['get', root, '-o', out, '--repo', repo])
    assert.equal(get.code, 0, get.stderr)
    assert.deepEqual(readFileSync(join(out, 'app.bin')), Buffer.from(data))
    assert.equal(readlinkSync(join(out, 'current')), 'app.bin')

    const verify = await runCli(['verify', '--repo', repo])
    assert.equal(verify.code, 0, verify.stderr)
    assert.match(verify.stdout, new RegExp(`^ok: ${fixture.blocks.length} blocks verified`))
  })
  it('add --format unixfs writes a bafy... DAG-PB root that ls, cat, get and verify read', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const src = join(dir, 'src')
    mkdirSync(src)
    const data = pseudoRandom(100_000, 9)
    writeFileSync(join(src, 'data.bin'), data)
    writeFileSync(join(src, 'hello.txt'), 'hello\n')
    const bad = await runMain(['add', src, '--format', 'ipfs', '--repo', repo])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /--format must be cmesh or unixfs/)
    // add as the binary; the rest through main in this process (each command ran as the binary in the test above)
    const added = await runCli(['add', src, '--format', 'unixfs', '--hash', 'sha2-256', '--json', '--repo', repo])
    assert.equal(added.code, 0, added.stderr)
    const { cid } = JSON.parse(added.stdout) as { cid: string }
    assert.match(cid, /^bafy/)
    assert.equal(CID.parse(cid).code, 0x70)
    const ls = await runMain(['ls', cid, '--repo', repo])
    assert.match(ls.stdout, /^file\s+0644\s+100000 \S+ data\.bin$/m)
    assert.equal((await runMain(['cat', `${cid}/hello.txt`, '--repo', repo])).stdout, 'hello\n')
    const out = join(dir, 'out')
    assert.equal((await runMain(['get', cid, '-o', out, '--repo', repo])).code, 0)
    assert.deepEqual(readFileSync(join(out, 'data.bin')), Buffer.from(data))
    const verify = await runMain(['verify', '--repo', repo])
    assert.equal(verify.code, 0, verify.stderr)
  })
})
