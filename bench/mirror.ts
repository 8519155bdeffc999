/**
 * How do HTTP mirrors and peers share a release download, and how fast do mirrors take over when the peers die?
 * `npm run bench:mirror [-- --mb 64 --package typescript@5.9.2 --kill-at 0.3 --fallback-pace 16MB/s --stall kill --json]`
 *
 * Releases: a random file of --mb MiB (0: none) and the unpacked npm package --package (bench/packages.ts
 * cache; 'none': none). A publisher key from `cmesh keygen`; each release published with `cmesh publish
 * --mirror <url> -o <bundle>` into the seeder's repo. The seeder is a `cmesh daemon` child process (so it can be
 * killed); the mirror a plain static web server (bench/static-server.ts) holding the original files. The client
 * is a node in this process, with a fresh repo per run, given the bundle: `node.update(name, { bundle,
 * usePeers, useMirrors, onProgress })`.
 *   mirror only   usePeers false (the seeder is connected, and must not be used); HTTP requests per MiB from it
 *   P2P only      useMirrors false
 *   mixed         both: the fetcher splits the work by measured speed
 *   fallback      both, the mirror paced to --fallback-pace (a mirror farther away than the peer, so the peer
 *                 carries the download; 0: unpaced); once --kill-at of the bytes have arrived the seeder gets
 *                 SIGKILL (--stall stop: SIGSTOP, a peer that hangs with its connection open). fallbackSeconds
 *                 is from the signal to the first blocks from the mirror after it; the download must complete.
 * MB/s is the release's content size (10^6 bytes) over the update's seconds (bundle checks and fetch).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, mkdtempSync, openSync, rmSync, symlinkSync, mkdirSync, readFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createNode, type CmeshNode } from '../src/node/index.js'
import { parseRate } from '../src/policy/fairness/token-bucket.js'
import type { UpdateProgressEvent, UpdateResult } from '../src/sync/releases/releases.js'
import { ensurePackage } from './packages.js'
import { parseBenchArgs, printTable } from './report.js'
import { startStaticServer, type StaticServer } from './static-server.js'

const args = parseBenchArgs(process.argv.slice(2), { mb: 64, package: 'typescript@5.9.2', 'kill-at': 0.3, 'fallback-pace': '16MB/s', stall: 'kill' })
const BIN = fileURLToPath(new URL('../../bin/cmesh.js', import.meta.url))
const MiB = 1024 * 1024
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-mirror-'))
const daemons = new Set<ChildProcess>()
const nodes = new Set<CmeshNode>()
let server: StaticServer | undefined

interface Release {
  label: string
  name: string
  /** The mirror's URL for it: a file root is the file's own URL. */
  mirror: string
  bundle: Uint8Array
  size: number
  blocks: number
}

type Mode = 'mirror only' | 'P2P only' | 'mixed'

interface RunResult {
  seconds: number
  mbps: number
  /** Wire bytes from the mirror and from the peer. */
  mirrorWire: number
  peerWire: number
  /** HTTP requests and body bytes the static server saw during the run. */
  httpRequests: number
  httpBytes: number
}

interface FallbackResult {
  signal: string
  /** Percent of the content bytes stored when the seeder was signalled. */
  killedAtPercent: number
  /** Of the bytes stored before the signal, the percent the mirror delivered. */
  mirrorPercentBeforeKill: number
  /** From the signal to the first blocks stored from the mirror after it. */
  fallbackSeconds: number
  /** From the signal to the client seeing the seeder's connection close (null: not seen before the end). */
  peerLostSeconds: number | null
  /** From the signal to the first HTTP request the mirror received after it (null: none). */
  firstRequestSeconds: number | null
  /** From the signal to the end of the update, and the MB/s of what arrived after the signal. */
  afterKillSeconds: number
  afterKillMBps: number
  seconds: number
  complete: boolean
}

const cmesh = (...argv: string[]): string => execFileSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' })

/** A `cmesh daemon` on the seeder's repo; resolves once it prints its addresses. */
async function startSeeder (): Promise<{ child: ChildProcess, addr: string }> {
  const child = spawn(
    process.execPath,
    [BIN, 'daemon', '--repo', join(work, 'seeder'), '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  )
  daemons.add(child)
  child.once('exit', () => daemons.delete(child))
  const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
  return { child, addr: (JSON.parse(line) as { addrs: string[] }).addrs[0]! }
}

async function stopSeeder (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  await exited
}

let clients = 0
async function startClient (trust: string, name: string, seeder?: string): Promise<CmeshNode> {
  const node = await createNode({
    repo: join(
      work,
    `client-${clients++}`),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    bootstrap: seeder === undefined ? [] : [seeder]
  })
  nodes.add(node)
  node.trust.add(name, trust)
  return node
}

async function stopClient (node: CmeshNode): Promise<void> {
  nodes.delete(node)
  await node.stop()
}

function split (r: UpdateResult, mirror: string): { mirrorWire: number, peerWire: number } {
  let mirrorWire = 0
  let peerWire = 0
  for (const [id, n] of Object.entries(r.sources)) {
    if (id === mirror) mirrorWire += n
    else peerWire += n
  }
  return { mirrorWire, peerWire }
}

async function run (release: Release, mode: Mode, server: StaticServer, trust: string, seeder: string): Promise<RunResult> {
  const client = await startClient(trust, release.name, seeder)
  try {
    const requests = server.requests
    const bytes = server.bytes
    const r = await client.update(release.name, { bundle: release.bundle, usePeers: mode !== 'mirror only', useMirrors: mode !== 'P2P only' })
    if (r.size !== release.size) throw new Error(`${release.label} ${mode}: installed ${r.size} bytes, expected ${release.size}`)
    const { mirrorWire, peerWire } = split(r, release.mirror)
    if (mode === 'mirror only' && peerWire > 0) throw new Error(`${release.label} mirror only: ${peerWire} bytes came from peers`)
    if (mode === 'P2P only' && mirrorWire > 0) throw new Error(`${release.label} P2P only: ${mirrorWire} bytes came from the mirror`)
    return {
      seconds: r.seconds,
      mbps: r.size / 1e6 / r.seconds,
      mirrorWire,
      peerWire,
      httpRequests: server.requests - requests,
      httpBytes: server.bytes - bytes
    }
  } finally {
    await stopClient(client)
  }
}

/** The seeder carries the download until `killAt` of the bytes have arrived; then it is killed (or stopped). */
async function fallback (release: Release, server: StaticServer, trust: string, pace: number, killAt: number, signal: NodeJS.Signals): Promise<FallbackResult> {
  const seeder = await startSeeder()
  const client = await startClient(trust, release.name, seeder.addr)
  server.pace = pace
  try {
    let killedAt: number | undefined
    let bytesAtKill = 0
    let mirrorBeforeKill = 0
    let firstMirrorAfter: number | undefined
    let peerLost: number | undefined
    let last = 0
    const seederId = client.libp2p.getPeers()[0]?.toString()
    client.libp2p.addEventListener('peer:disconnect', evt => {
      if (evt.detail.toString() === seederId && killedAt !== undefined) peerLost ??= performance.now()
    })
    const onProgress = (e: UpdateProgressEvent): void => {
      if (e.type === 'fetch:source-failed') console.error(`  fallback: source ${e.source} dropped: ${e.error}`)
      if (e.type !== 'fetch:blocks') return
      const now = performance.now()
      const delta = e.bytes - last
      last = e.bytes
      if (killedAt === undefined) {
        if (e.source === release.mirror) mirrorBeforeKill += delta
        if (e.bytes >= killAt * release.size) {
          seeder.child.kill(signal)
          killedAt = performance.now()
          bytesAtKill = e.bytes
        }
      } else if (e.source === release.mirror) {
        firstMirrorAfter ??= now
      }
    }
    const r = await client.update(release.name, { bundle: release.bundle, onProgress })
    const done = performance.now()
    if (killedAt === undefined) throw new Error(`${release.label} fallback: the download ended before ${killAt * 100} % of it had arrived`)
    if (firstMirrorAfter === undefined) throw new Error(`${release.label} fallback: no blocks came from the mirror after the seeder was signalled`)
    const firstRequest = server.requestTimes.find(t => t >= killedAt!)
    return {
      signal,
      killedAtPercent: 100 * bytesAtKill / release.size,
      mirrorPercentBeforeKill: bytesAtKill === 0 ? 0 : 100 * mirrorBeforeKill / bytesAtKill,
      fallbackSeconds: (firstMirrorAfter - killedAt) / 1000,
      peerLostSeconds: peerLost === undefined ? null : (peerLost - killedAt) / 1000,
      firstRequestSeconds: firstRequest === undefined ? null : (firstRequest - killedAt) / 1000,
      afterKillSeconds: (done - killedAt) / 1000,
      afterKillMBps: (r.size - bytesAtKill) / 1e6 / ((done - killedAt) / 1000),
      seconds: r.seconds,
      complete: r.size === release.size
    }
  } finally {
    server.pace = 0
    await stopClient(client)
    // a stopped process takes no SIGTERM; SIGKILL ends it either way
    await stopSeeder(seeder.child, 'SIGKILL')
  }
}

try {
  const mb = Number(args.mb)
  const killAt = Number(args['kill-at'])
  const pace = String(args['fallback-pace']) === '0' ? 0 : parseRate(String(args['fallback-pace']))
  const stall = String(args.stall)
  if (stall !== 'kill' && stall !== 'stop') throw new Error('--stall must be kill or stop')
  if (!(killAt > 0 && killAt < 1)) throw new Error('--kill-at must be between 0 and 1')
  const www = join(work, 'www')
  mkdirSync(www)
  server = await startStaticServer(www)

  const key = join(work, 'publisher.pem')
  const trust = (JSON.parse(cmesh('keygen', '-o', key, '--json')) as { publicKey: string }).publicKey
  const releases: Release[] = []
  const publish = (label: string, name: string, version: string, path: string, mirror: string): void => {
    const bundle = join(work, `${name}.cmesh`)
    const out = JSON.parse(cmesh(
      'publish',
      path,
      '--repo',
      join(work, 'seeder'),
      '--name',
      name,
      '--version',
      version,
      '--key',
      key,
      '--mirror',
      mirror,
      '-o',
      bundle,
      '--json',
      '--quiet'
    )) as { size: number, blocks: number }
    releases.push({ label, name, mirror, bundle: readFileSync(bundle), size: out.size, blocks: out.blocks })
  }
  if (mb > 0) {
    const file = join(www, 'data.bin')
    const fd = openSync(file, 'w')
    for (let i = 0; i < mb; i++) writeSync(fd, randomBytes(MiB))
    closeSync(fd)
    publish(`random ${mb} MiB file`, 'bench-random', '1.0.0', file, `${server.url}/data.bin`)
  }
  if (args.package !== 'none') {
    const spec = String(args.package)
    const dir = await ensurePackage(spec)
    symlinkSync(dir, join(www, 'package'))
    publish(`${spec} (unpacked)`, 'bench-package', '1.0.0', dir, `${server.url}/package`)
  }
  if (releases.length === 0) throw new Error('nothing to measure: --mb 0 and --package none')

  const rows: Array<Record<string, unknown>> = []
  const results: Array<Record<string, unknown>> = []
  for (const release of releases) {
    const seeder = await startSeeder()
    const runs = new Map<Mode, RunResult>()
    try {
      for (const mode of ['mirror only', 'P2P only', 'mixed'] as Mode[]) runs.set(mode, await run(release, mode, server, trust, seeder.addr))
    } finally {
      await stopSeeder(seeder.child)
    }
    const fb = await fallback(release, server, trust, pace, killAt, stall === 'stop' ? 'SIGSTOP' : 'SIGKILL')
    const mirrorOnly = runs.get('mirror only')!
    const perMiB = mirrorOnly.httpRequests / (release.size / MiB)
    for (const [mode, r] of runs) {
      rows.push({
        release: release.label,
        run: mode,
        seconds: r.seconds.toFixed(2),
        'MB/s': r.mbps.toFixed(1),
        'from mirror': r.mirrorWire,
        'from peer': r.peerWire,
        'HTTP requests': r.httpRequests,
        'requests/MiB': mode === 'mirror only' ? perMiB.toFixed(2) : '',
        notes: ''
      })
    }
    rows.push({
      release: release.label,
      run: `fallback (${fb.signal})`,
      seconds: fb.seconds.toFixed(2),
      'MB/s': (release.size / 1e6 / fb.seconds).toFixed(1),
      'from mirror': '',
      'from peer': '',
      'HTTP requests': '',
      'requests/MiB': '',
      notes: `signalled at ${fb.killedAtPercent.toFixed(1)} % (mirror had ${fb.mirrorPercentBeforeKill.toFixed(1)} %, paced ${pace === 0 ? 'off' : `${(pace / 1e6).toFixed(0)} MB/s`}); ` +
        `mirror blocks ${fb.fallbackSeconds.toFixed(3)} s after; peer lost ${fb.peerLostSeconds === null ? 'n/a' : `${fb.peerLostSeconds.toFixed(3)} s`}; ` +
        `rest in ${fb.afterKillSeconds.toFixed(2)} s (${fb.afterKillMBps.toFixed(1)} MB/s)${fb.complete ? '' : ' INCOMPLETE'}`
    })
    results.push({
      release: release.label,
      size: release.size,
      blocks: release.blocks,
      fallbackSeconds: fb.fallbackSeconds,
      mirrorOnlyMBps: mirrorOnly.mbps,
      p2pOnlyMBps: runs.get('P2P only')!.mbps,
      mixedMBps: runs.get('mixed')!.mbps,
      httpRequestsPerMiB: perMiB,
      mirrorOnlySeconds: mirrorOnly.seconds,
      p2pOnlySeconds: runs.get('P2P only')!.seconds,
      mixedSeconds: runs.get('mixed')!.seconds,
      mirrorOnlyHttpRequests: mirrorOnly.httpRequests,
      mirrorOnlyHttpBytes: mirrorOnly.httpBytes,
      mixedMirrorWireBytes: runs.get('mixed')!.mirrorWire,
      mixedPeerWireBytes: runs.get('mixed')!.peerWire,
      fallback: { ...fb, killAt, mirrorPace: pace }
    })
  }
  // the first release (the random file, unless --mb 0) gives the top-level numbers; every release is in `releases`
  const json = { ...results[0]!, releases: results }
  if (args.json !== true) console.log(`mirror ${server.url}, seeder a cmesh daemon on loopback, client in this process; MB = 10^6 bytes\n`)
  printTable(rows, args.json === true, json)
} finally {
  for (const n of nodes) await n.stop().catch(() => {})
  await server?.close()
  for (const d of daemons) d.kill('SIGKILL')
  await Promise.all([...daemons].map(async d => d.exitCode === null && d.signalCode === null ? await once(d, 'exit') : undefined))
  rmSync(work, { recursive: true, force: true })
}
