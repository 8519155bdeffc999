import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CMESH_BIN, runCli, runMain } from '../helpers/cli.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const MODULE_LOG = fileURLToPath(new URL('../helpers/module-log.js', import.meta.url))

describe('cmesh daemon and fetch', () => {
  it('serves blocks from a daemon to `cmesh fetch`, and stops cleanly on SIGTERM', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(500_000, 71)
    writeFileSync(join(dir, 'f'), data)
    const seeder = join(dir, 'seeder')
    const cid = (await runCli(['add', join(dir, 'f'), '--repo', seeder])).stdout.trim()

    const daemon = spawn(
      process.execPath,
      [CMESH_BIN, 'daemon', '--repo', seeder, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--upload-limit', '50MB/s'],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
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

    // content nobody has: the same command, its main run in this process
    const missing = await runMain([
      'fetch',
      'bafkr4ibc7z4xu3k4zqmqhsy6yyenhbnz3wfxkr5k2r4rcfzaxbxcsemdoy',
      '--repo',
      leecher,
      '--bootstrap',
      addr,
      '--no-mdns',
      '--listen',
      '/ip4/127.0.0.1/tcp/0'
    ])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^cmesh: no source has block .+ \(tried: 12D3Koo\S+\) \[ERR_FETCH_FAILED\]\n$/)

    // a second daemon: `cmesh fetch` and `cmesh peers` on its repository go through it
    const viaRepo = join(dir, 'via-daemon')
    const second = spawn(
      process.execPath,
      [CMESH_BIN, 'daemon', '--repo', viaRepo, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', addr],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    const secondExit = once(second, 'exit')
    t.after(() => { if (second.exitCode === null) second.kill('SIGKILL') })
    await once(createInterface({ input: second.stdout }), 'line')
    const viaDaemon = await runCli(['fetch', cid, '--repo', viaRepo, '--json'])
    assert.equal(viaDaemon.code, 0, viaDaemon.stderr)
    assert.deepEqual(Object.keys((JSON.parse(viaDaemon.stdout) as { sources: Record<string, number> }).sources), [ready.peerId])
    const log = join(dir, 'modules.txt')
    const peersRun = await runCli(['peers', '--repo', viaRepo, '--json'], { CMESH_MODULE_LOG: log }, { nodeArgs: ['--import', MODULE_LOG] })
    const peerList = peersRun.stdout.trim().split('\n').map(l => JSON.parse(l) as { peerId: string })
    assert.ok(peerList.some(p => p.peerId === ready.peerId), 'the daemon reports its peers')
    // a command the daemon answers loads no network stack of its own
    const modules = readFileSync(log, 'utf8').split('\n')
    assert.ok(modules.some(m => m.endsWith('/dist/src/daemon/daemon-client.js')), 'the log sees the modules it loads')
    assert.deepEqual(modules.filter(m => /node_modules\/(libp2p|@libp2p|@chainsafe)\/|\/dist\/src\/node\//.test(m)), [])
    const badCid = await runCli(['fetch', 'bafkr4ibc7z4xu3k4zqmqhsy6yyenhbnz3wfxkr5k2r4rcfzaxbxcsemdoy', '--repo', viaRepo])
    assert.equal(badCid.code, 1)
    assert.match(badCid.stderr, /\[ERR_FETCH_FAILED\]/)
    second.kill('SIGTERM')
    await secondExit
    assert.equal(existsSync(join(viaRepo, 'api')), false, 'a stopped daemon removes its API file')
    assert.deepEqual((await runCli(['cat', cid, '--repo', viaRepo])).stdoutBytes, Buffer.from(data))

    // the refusals of bad options run the command's main in this process (the daemon itself ran as the binary above)
    const bad = await runMain(['daemon', '--repo', join(dir, 'other'), '--upload-limit', 'fast', '--no-mdns'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--upload-limit.*\[ERR_USAGE\]/)
    // bootstrap entries: a peer id or IP multiaddrs; a DNS name is refused in one line before anything starts
    const named = await runMain(['daemon', '--repo', join(dir, 'other'), '--no-mdns', '--bootstrap', '/dns4/example.org/tcp/4737'])
    assert.equal(named.code, 1)
    assert.match(named.stderr, /^cmesh: bootstrap: \/dns4\/example\.org\/tcp\/4737 must start with \/ip4\/ or \/ip6\/ \(no DNS names\) \[ERR_INVALID_OPTION\]\n$/)

    daemon.kill('SIGTERM')
    const [code] = await exited as [number]
    assert.equal(code, 0)
  })

  it('refuses a --relay other than auto, server, client or off, in one line, before starting anything', async t => {
    const r = await runMain(['daemon', '--relay', 'both', '--repo', join(tempDir(t), 'repo')])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--relay must be auto, server, client or off, got both/)
    assert.equal(r.stderr.trim().split('\n').length, 1)
  })

  it('refuses a --dht-provide other than roots or files, in one line', async t => {
    const r = await runMain(['daemon', '--dht-provide', 'blocks', '--repo', join(tempDir(t), 'repo')])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--dht-provide must be roots or files, got blocks/)
    assert.equal(r.stderr.trim().split('\n').length, 1)
  })

  it('resumes a download killed with SIGKILL without fetching again what it stored', async t => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'f'), pseudoRandom(3_000_000, 72))
    const seeder = join(dir, 'seeder')
    const cid = (await runCli(['add', join(dir, 'f'), '--repo', seeder])).stdout.trim()
    const seederBytes = (JSON.parse((await runMain(['stat', '--repo', seeder, '--json'])).stdout) as { bytes: number }).bytes
    /** The seeder's daemon, and its address; slow enough that a loaded machine sees the first download part way. */
    const startSeeder = async (uploadLimit: string): Promise<{ addr: string, stop: () => Promise<void> }> => {
      const daemon = spawn(
        process.execPath,
        [CMESH_BIN, 'daemon', '--repo', seeder, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--upload-limit', uploadLimit],
        { stdio: ['ignore', 'pipe', 'inherit'] }
      )
      const exited = once(daemon, 'exit')
      t.after(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL') })
      const [line] = await once(createInterface({ input: daemon.stdout }), 'line') as [string]
      return { addr: (JSON.parse(line) as { addrs: string[] }).addrs[0]!, stop: async () => { daemon.kill('SIGTERM'); await exited } }
    }
    const slow = await startSeeder('100KB/s')
    const leecher = join(dir, 'leecher')
    const args = (addr: string): string[] => ['fetch', cid, '--repo', leecher, '--bootstrap', addr, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--json']
    const first = spawn(process.execPath, [CMESH_BIN, ...args(slow.addr)], { stdio: ['ignore', 'ignore', 'pipe'] })
    // what it says if it ends early, for the failure message below
    let firstErr = ''
    first.stderr.on('data', (d: Buffer) => { firstErr += d.toString() })
    const firstExit = once(first, 'exit')
    t.after(() => { if (first.exitCode === null) first.kill('SIGKILL') })
    /** What `cmesh stat` says the leecher holds (its main run in this process: the check is polled). */
    const storedBytes = async (): Promise<number> => {
      const s = await runMain(['stat', '--repo', leecher, '--json'])
      return s.code === 0 ? (JSON.parse(s.stdout) as { bytes: number }).bytes : 0
    }
    await waitFor(async () => await storedBytes() >= 200_000, { what: 'the first download to store some blocks' }).catch((err: Error) => {
      throw new Error(`${err.message} (the download ${first.exitCode === null ? 'still runs' : `exited with ${first.exitCode}`}; it said: ${firstErr.trim()})`)
    })
    first.kill('SIGKILL')
    await firstExit
    await slow.stop()
    const held = await storedBytes()
    assert.ok(held > 0 && held < seederBytes, `the killed download left ${held} of ${seederBytes} bytes`)

    const fast = await startSeeder('50MB/s')
    const second = await runCli(args(fast.addr))
    assert.equal(second.code, 0, second.stderr)
    const report = JSON.parse(second.stdout) as { bytes: number }
    assert.equal(report.bytes, seederBytes - held, 'the resumed download received exactly the blocks it lacked')
    assert.deepEqual((await runCli(['cat', cid, '--repo', leecher])).stdoutBytes, Buffer.from(pseudoRandom(3_000_000, 72)))
    await fast.stop()
  })
})
