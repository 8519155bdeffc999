import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DEFAULT_PORT } from '../../src/node/constants.js'
import type { NodeOptions, PeerInfo } from '../../src/node/index.js'
import type { AutoRelayStatus } from '../../src/sync/net/index.js'
import { CMESH_BIN } from '../helpers/cli.js'
import { buildNeighbourhood, canRunNamespaces, type Host } from '../helpers/netns.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

const run = promisify(execFile)
/** A node that has not exited this long after SIGTERM is killed, so that the namespaces can go. */
const STOP_GRACE_MS = 15_000
const FETCH_CHILD = fileURLToPath(new URL('../helpers/fetch-child.js', import.meta.url))

interface FetchLine { cid: string, seconds: number, sources: Record<string, number>, routed: string[] | null }

describe('a neighbourhood of three subnets joined by routers, and a home behind NAT', () => {
  it('finds a file two routers away through the DHT, and fetches from the home behind NAT', {
    timeout: 180_000
  }, async t => {
    const why = canRunNamespaces({ nat: true })
    if (why !== undefined) {
      console.error(`\n*** SKIPPING the multi-subnet NAT test: ${why} ***\n`)
      t.skip(why)
      return
    }
    // after hooks run in the order given: the nodes stop, then their directories go, then the namespaces
    const running = new Set<ChildProcess>()
    t.after(async () => { await stopAll(running) })
    const dir = tempDir(t)
    const { hosts } = buildNeighbourhood(t.after.bind(t))
    const host = (name: string): Host => hosts.get(name)!
    /** `cmesh ARGS --repo <its repo>` on a host (through its daemon when one runs there). */
    const cmesh = async (name: string, ...args: string[]): Promise<string> =>
      (await run('ip', ['netns', 'exec', host(name).ns, process.execPath, CMESH_BIN, ...args, '--repo', join(dir, name), '--json'])).stdout
    /** A daemon in its host's namespace, on the default port; resolves once it printed its id (and notes its API). */
    const apis = new Map<string, string>()
    const startDaemon = async (name: string, extra: string[] = []): Promise<string> => {
      const child = spawn('ip', ['netns', 'exec', host(name).ns, process.execPath, CMESH_BIN, 'daemon', '--repo', join(dir, name), '--json', ...extra], {
        stdio: ['ignore', 'pipe', 'inherit']
      })
      running.add(child)
      child.once('exit', () => running.delete(child))
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
      const { peerId, api } = JSON.parse(line) as { peerId: string, api: string }
      apis.set(name, api)
      return peerId
    }
    /** What a daemon's relay mode 'auto' decided, from its /health (its API listens on 127.0.0.1 in its namespace). */
    const natOf = async (name: string): Promise<AutoRelayStatus | undefined> => {
      const get = 'fetch(process.argv[1]).then(r => r.text()).then(t => process.stdout.write(t))'
      const { stdout } = await run('ip', ['netns', 'exec', host(name).ns, process.execPath, '-e', get, `${apis.get(name)!}/health`])
      return (JSON.parse(stdout) as { nat?: AutoRelayStatus }).nat
    }
    const add = async (name: string, bytes: number, seed: number): Promise<string> => {
      writeFileSync(join(dir, `${name}.bin`), pseudoRandom(bytes, seed))
      return (JSON.parse(await cmesh(name, 'add', join(dir, `${name}.bin`))) as { cid: string }).cid
    }
    /** A node of its own (test/helpers/fetch-child.ts) on a host, running `steps`; its JSON lines one by one. */
    const child = (name: string, options: NodeOptions, steps: string[]): { next: <T>() => Promise<T> } => {
      const c = spawn('ip', ['netns', 'exec', host(name).ns, process.execPath, FETCH_CHILD, JSON.stringify(options), ...steps], { stdio: ['ignore', 'pipe', 'inherit'] })
      running.add(c)
      c.once('exit', () => running.delete(c))
      const lines = createInterface({ input: c.stdout! })[Symbol.asyncIterator]()
      return {
        next: async <T>() => {
          const { value, done } = await lines.next()
          assert.ok(done !== true, `the node on ${name} stopped early`)
          return JSON.parse(value as string) as T
        }
      }
    }

    // a file held only on segment C, another only at the home behind NAT (small: a relay carries 1 MiB a connection)
    const [onC, atHome] = await Promise.all([add('c1', 300_000, 31), add('h1', 40_000, 32)])
    // b1: a community node on B, DHT server and relay (the daemon's defaults: relay mode 'auto', and nothing shows it
    // is behind NAT); c1 and the home know it alone. The home is not told it is behind NAT: its peers show it. It
    // joins a neighbourhood that is already there, as a home does: b1 tells it of c1 (peer exchange), and the two
    // are the peers at distinct addresses that see its connections come from the home router's address.
    const b1 = await startDaemon('b1')
    const bootstrap = `/ip4/${host('b1').addr}/tcp/${DEFAULT_PORT}/p2p/${b1}`
    const c1 = await startDaemon('c1', ['--bootstrap', bootstrap])
    const h1 = await startDaemon('h1', ['--bootstrap', bootstrap, '--allow-relayed-transfers'])
    // the DHT lists C's file (and later the home at its relay slot): a probe on B asks until it does
    const probe = child('b1', { repo: join(dir, 'probe'), bootstrap: [bootstrap], dht: 'client', peerExchange: false, minPeers: 1 },
      [`provider:${onC}:${c1}`, `provider:${atHome}:${h1}:circuit`])
    await probe.next()

    // a new node on A, given one bootstrap address (peer exchange off): mDNS does not cross the routers, so only
    // the DHT can tell it who holds the file of C; then the file of the home, which no one can dial
    const options: NodeOptions = {
      repo: join(dir, 'a1'),
      bootstrap: [bootstrap],
      dht: 'client',
      peerExchange: false,
      minPeers: 1,
      relay: 'server',
      allowRelayedTransfers: true
    }
    const started = Date.now()
    const a1 = child('a1', options, [`fetch:${onC}`, `provider:${atHome}:${h1}:circuit`, `fetch:${atHome}`, 'peers'])
    const fromC = await a1.next<FetchLine>()
    const seconds = (Date.now() - started) / 1000
    console.log(`segment A fetched ${Object.values(fromC.sources)[0] ?? 0} bytes held on segment C ${seconds.toFixed(2)} s after the new node was spawned on A (the fetch itself ${fromC.seconds.toFixed(2)} s), routed through the DHT to ${fromC.routed?.join(', ') ?? 'nobody'}`)
    assert.deepEqual(fromC.routed, [c1], 'found through the DHT')
    assert.deepEqual(Object.keys(fromC.sources), [c1])

    // the home behind NAT cannot be dialled: the new node reaches it through its relay slot on b1 or c1 (the home pushes
    // its relay address to its peers and provides its roots again once it holds the slot)
    await t.test('the home behind NAT serves a node outside it', async () => {
      await probe.next()
      // b1 and c1 saw its connections come from the home router's address: it reserved a slot on one of them
      const homeNat = await waitFor(async () => { const s = await natOf('h1'); return s !== undefined && s.reservations > 0 ? s : undefined }, { what: 'the home\'s relay slot' })
      assert.equal(homeNat.verdict, 'behind-nat')
      assert.ok(homeNat.reserving && homeNat.translated >= 2, JSON.stringify(homeNat))
      await a1.next() // the new node too sees the home listed at its relay slot
      const fromHome = await a1.next<FetchLine>()
      assert.deepEqual(Object.keys(fromHome.sources), [h1], 'the home served it')
      const { peers } = await a1.next<{ peers: PeerInfo[] }>()
      const home = peers.find(p => p.peerId === h1)
      assert.ok(home?.reach === 'relayed' || home?.reach === 'hole-punched', `a1 reaches the home ${home?.reach ?? 'not at all'}`)
      // the community nodes are dialable where they are: their peers see them at their own addresses, and they reserve nothing
      for (const name of ['b1', 'c1']) {
        const nat = await natOf(name)
        assert.deepEqual({ verdict: nat?.verdict, translated: nat?.translated, reserving: nat?.reserving, reservations: nat?.reservations },
          { verdict: 'direct', translated: 0, reserving: false, reservations: 0 }, `${name}: ${JSON.stringify(nat)}`)
      }
      console.log(`the home behind NAT decided so (${homeNat.translated} peers saw it at the router's address) and reserved a relay slot; it served ${Object.values(fromHome.sources)[0] ?? 0} bytes to segment A (routed: ${fromHome.routed?.join(', ') ?? 'no, already connected'}): reached ${home.reach}, at ${home.addrs.join(' ')}`)
    })
  })
})

/** SIGTERM every daemon and wait for them to exit; one still running after STOP_GRACE_MS is killed. */
async function stopAll (running: Set<ChildProcess>): Promise<void> {
  const all = [...running]
  for (const d of all) if (d.exitCode === null) d.kill('SIGTERM')
  await Promise.all(all.map(async d => {
    if (d.exitCode !== null || d.signalCode !== null) return
    const kill = setTimeout(() => d.kill('SIGKILL'), STOP_GRACE_MS)
    await once(d, 'exit')
    clearTimeout(kill)
  }))
}
