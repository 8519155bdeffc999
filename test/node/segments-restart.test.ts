import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { DEFAULT_PORT } from '../../src/node/constants.js'
import { CMESH_BIN } from '../helpers/cli.js'
import { buildSegments, canRunNamespaces, type Host } from '../helpers/netns.js'
import { tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const run = promisify(execFile)

interface Daemon { child: ChildProcess, peerId: string, addrs: string[] }

describe('a two-segment neighbourhood after a power cut', () => {
  it('rejoins by itself when every daemon restarts, on the same ports, with no bootstrap given again', async t => {
    const why = canRunNamespaces()
    if (why !== undefined) {
      console.error(`\n*** SKIPPING the network-namespace restart test: ${why} ***\n`)
      t.skip(why)
      return
    }
    const { hosts } = buildSegments(t.after.bind(t))
    const dir = tempDir(t)
    const running = new Set<ChildProcess>()
    t.after(async () => { await stopAll(running) })
    const names = ['b1', 'b2', 'a1', 'a2']
    const host = (name: string): Host => hosts.get(name)!

    /** A daemon in its host's namespace, on its repository's default port; resolves once it printed its id. */
    const startDaemon = async (name: string, extra: string[] = []): Promise<Daemon> => {
      const child = spawn('ip', ['netns', 'exec', host(name).ns, process.execPath, CMESH_BIN, 'daemon', '--repo', join(dir, name), '--json', ...extra], {
        stdio: ['ignore', 'pipe', 'inherit']
      })
      running.add(child)
      child.once('exit', () => running.delete(child))
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
      return { child, ...JSON.parse(line) as { peerId: string, addrs: string[] } }
    }
    /** The daemon's peers, as `cmesh peers` run on that host tells them. */
    const peersOf = async (name: string): Promise<Array<{ peerId: string, addrs: string[] }>> => {
      const { stdout } = await run('ip', ['netns', 'exec', host(name).ns, process.execPath, CMESH_BIN, 'peers', '--repo', join(dir, name), '--json'])
      return stdout.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { peerId: string, addrs: string[] })
    }
    /**
     * Has every daemon been seen connected to every other since `settled` was last cleared? Each look spawns a
     * `cmesh peers` in a namespace, so a daemon found complete is not asked again while the others are awaited.
     */
    const settled = new Set<string>()
    const everyoneConnected = async (ids: Map<string, string>): Promise<boolean> => {
      for (const name of names) {
        if (settled.has(name)) continue
        const seen = new Set((await peersOf(name)).map(p => p.peerId))
        if (!names.every(other => other === name || seen.has(ids.get(other)!))) return false
        settled.add(name)
      }
      return true
    }

    // first run: segment A learns of segment B from one bootstrap address (mDNS does not cross the router)
    const ids = new Map<string, string>()
    for (const name of names) {
      const bootstrap = name === 'a1' ? ['--bootstrap', `/ip4/${host('b1').addr}/tcp/${DEFAULT_PORT}/p2p/${ids.get('b1')!}`] : []
      const d = await startDaemon(name, bootstrap)
      ids.set(name, d.peerId)
      assert.deepEqual(d.addrs, [`/ip4/${host(name).addr}/tcp/${DEFAULT_PORT}/p2p/${d.peerId}`], 'the default port, announced without loopback')
    }
    await waitFor(async () => await everyoneConnected(ids), { what: 'all four daemons connected', intervalMs: 1000, timeoutMs: 90_000 })

    // the power cut: every daemon stops, then all start again with no --bootstrap
    await stopAll(running)
    settled.clear()
    for (const name of names) {
      const d = await startDaemon(name)
      assert.equal(d.peerId, ids.get(name))
      assert.deepEqual(d.addrs, [`/ip4/${host(name).addr}/tcp/${DEFAULT_PORT}/p2p/${d.peerId}`], 'the same port as before the restart')
    }
    await waitFor(async () => await everyoneConnected(ids), { what: 'the two segments to rejoin', intervalMs: 1000, timeoutMs: 90_000 })
    // what `cmesh peers` lists can be dialled: listen addresses, never an inbound connection's ephemeral port
    for (const name of names) {
      for (const p of await peersOf(name)) assert.ok(p.addrs.every(a => a.includes(`/tcp/${DEFAULT_PORT}`)), `${name} lists ${p.addrs.join(' ')}`)
    }
  })
})

/** SIGTERM every daemon (each writes what it remembers as it stops) and wait for them to exit. */
async function stopAll (running: Set<ChildProcess>): Promise<void> {
  const all = [...running]
  for (const d of all) if (d.exitCode === null) d.kill('SIGTERM')
  await Promise.all(all.map(async d => d.exitCode === null && d.signalCode === null ? await once(d, 'exit') : undefined))
}
