import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it, type TestContext } from 'node:test'
import { CMESH_BIN, runCli, runMain } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

async function setup (t: TestContext): Promise<{ dir: string, key: string, gov: string }> {
  const dir = tempDir(t)
  const key = join(dir, 'leader.pem')
  const made = await runCli(['keygen', '-o', key, '--json'])
  assert.equal(made.code, 0, made.stderr)
  const { publicKey } = JSON.parse(made.stdout) as { publicKey: string }
  const gov = join(dir, 'riverside.json')
  writeFileSync(gov, JSON.stringify({
    name: 'riverside',
    publishers: [publicKey],
    moderators: [],
    quotas: { maxResourceBytes: 1_000_000, maxAnnouncementsPerHour: 10, maxBytesPerDay: 10_000_000 },
    retentionDays: 7
  }))
  writeFileSync(join(dir, 'notice.txt'), 'Bins go out on Monday night')
  return { dir, key, gov }
}

describe('cmesh collection, share, browse, retract', () => {
  it('works on a repository with no daemon: the share is signed and stored for the daemon to spread', async t => {
    // join and share run as the binary (each starts a node of its own); the rest runs main in this process
    const { dir, key, gov } = await setup(t)
    const repo = join(dir, 'repo')
    const joined = await runCli(['collection', 'join', gov, '--budget', '10MB', '--repo', repo])
    assert.equal(joined.code, 0, joined.stderr)
    assert.match(joined.stdout, /^joined riverside \(\/cmesh\/collection\/1\/riverside\/[0-9a-f]{16}\), budget 10\.0 MB\n$/)
    const shared = await runCli([
      'share',
      join(dir, 'notice.txt'),
      '--collection',
      'riverside',
      '--key',
      key,
      '--title',
      'Bin day',
      '--purpose',
      'notice',
      '--tag',
      'bins',
      '--lang',
      'en',
      '--repo',
      repo,
      '--json'
    ])
    assert.equal(shared.code, 0, shared.stderr)
    assert.equal((JSON.parse(shared.stdout) as { seq: number }).seq, 1)
    const found = JSON.parse((await runMain([
      'browse',
      'riverside',
      '--tag',
      'bins',
      '--json',
      '--repo',
      repo
    ])).stdout) as Array<{ title: string, status: string }>
    assert.deepEqual(found.map(e => [e.title, e.status]), [['Bin day', 'synced']])
    assert.match((await runMain(['browse', 'riverside', '--repo', repo])).stdout, /^notice\tBin day\tnotice\.txt\t\S+\t27 B\tsynced\t#bins\n$/)
    assert.match((await runMain(['collection', 'ls', '--repo', repo])).stdout, /^riverside\t1\/1 synced\t27 B of 10\.0 MB\t0 peer\(s\)\n$/)
    const bad = await runMain([
      'share',
      join(dir, 'notice.txt'),
      '--collection',
      'riverside',
      '--key',
      key,
      '--title',
      'x',
      '--purpose',
      'gossip',
      '--repo',
      repo
    ])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /\[ERR_INVALID_ANNOUNCEMENT\]/)
    const retracted = await runMain(['retract', 'notice.txt', '--collection', 'riverside', '--key', key, '--repo', repo])
    assert.equal(retracted.code, 0, retracted.stderr)
    assert.equal((await runMain(['browse', 'riverside', '--json', '--repo', repo])).stdout, '[]\n')
    assert.equal((await runMain(['collection', 'leave', 'riverside', '--repo', repo])).code, 0)
    assert.equal((await runMain(['collection', 'ls', '--json', '--repo', repo])).stdout, '[]\n')
    assert.equal((await runMain(['collection', 'nope', '--repo', repo])).code, 2)
  })

  it('goes through the running daemon, which joins and publishes at once', async t => {
    const { dir, key, gov } = await setup(t)
    const repo = join(dir, 'repo')
    const daemon = spawn(
      process.execPath,
      [CMESH_BIN, 'daemon', '--repo', repo, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    t.after(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL') })
    await once(createInterface({ input: daemon.stdout }), 'line')
    assert.equal((await runCli(['collection', 'join', gov, '--repo', repo])).code, 0)
    const shared = await runCli([
      'share',
      join(dir, 'notice.txt'),
      '--collection',
      'riverside',
      '--key',
      key,
      '--title',
      'Bin day',
      '--purpose',
      'notice',
      '--repo',
      repo
    ])
    assert.equal(shared.code, 0, shared.stderr)
    assert.match(shared.stdout, /^shared notice\.txt seq 1 in riverside: \S+ \(0 peer\(s\) told\)\n$/)
    const list = JSON.parse((await runCli(['collection', 'ls', '--json', '--repo', repo])).stdout) as Array<{ name: string, resources: number }>
    assert.deepEqual(list.map(c => [c.name, c.resources]), [['riverside', 1]])
    const missing = await runCli(['browse', 'elsewhere', '--repo', repo])
    assert.match(missing.stderr, /\[ERR_COLLECTION_NOT_FOUND\]/)
    const retracted = await runCli(['retract', 'notice.txt', '--collection', 'riverside', '--key', key, '--repo', repo])
    assert.equal(retracted.code, 0, retracted.stderr)
    assert.equal((await runCli(['browse', 'riverside', '--json', '--repo', repo])).stdout, '[]\n')
    const left = await runCli(['collection', 'leave', 'riverside', '--repo', repo])
    assert.equal(left.code, 0, left.stderr)
    assert.equal(left.stdout, 'left riverside\n')
    daemon.kill('SIGTERM')
    await once(daemon, 'exit')
  })
})
