/**
 * Does downloading from many peers add up? `npm run bench:swarm [-- --mb 128 --seeders 8 --rate 5MB/s --tree DIR --json]`
 * (`-- --one-to-one` runs only the unthrottled 1 -> 1 rows: cmesh, the plain libp2p stream, Helia's bitswap, raw TCP)
 *
 * Seeders are real `cmesh daemon` processes on loopback (TLS, yamux, /cmesh/blocks/1.0.0), each with --upload-limit
 * --rate, each holding a --mb MiB random file and a real package tree (--tree, default node_modules/typescript);
 * the leecher is a new node in this process each time. It downloads each from 1 seeder, then from --seeders
 * seeders: the speedup is the ratio. The seeders first meet during a download (the leecher's peer exchange
 * introduces them, and the TLS handshakes of 28 new connections share the two cores with the transfer); that run
 * is reported as "cold". Then, the seeders connected to each other as a swarm's seeders are, the measured runs.
 * Then an unthrottled 1 -> 1 transfer next to raw Node TCP on loopback, a plain libp2p stream (TCP, TLS, yamux: the
 * ceiling of our stack) and Helia's bitswap (bench/bitswap.ts, in a process of its own) moving the same bytes, with
 * the CPU seconds per GB each spends on both ends, the time spent verifying blocks, a --big-mb (default 1024) file
 * 1 -> 1 with the peak RSS of the seeder daemon and of a leecher in a process of its own, and (as root, in network
 * namespaces it builds) the median time for a new node to find the nodes of its segment by mDNS.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseCid } from '../src/dag/cid.js'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { callApi, daemonApi } from '../src/daemon/index.js'
import { createNode, type CmeshNode, type PeerInfo } from '../src/node/index.js'
import { createHost } from '../src/node/host.js'
import { sendFrame } from '../src/sync/exchange/framing.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { parseRate } from '../src/policy/fairness/token-bucket.js'
import { buildSegments, canRunNamespaces } from '../test/helpers/netns.js'
import { CMESH_BIN, startDaemon, stopDaemons } from './daemons.js'
import { parseBenchArgs, printTable } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), {
  mb: 128,
  seeders: 8,
  rate: '5MB/s',
  trials: 5,
  rarest: false,
  'big-mb': 1024,
  'one-to-one': false,
  tree: fileURLToPath(new URL('../../node_modules/typescript', import.meta.url))
})
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-swarm-'))
const nodes: CmeshNode[] = []

/** The seeder daemons' process ids, in start order. */
const daemonPids: number[] = []
/** The protocol of the plain-stream ceiling: bytes in frames, nothing else. */
const PLAIN_PROTOCOL = '/cmesh-bench/plain/1.0.0'
const BIN = CMESH_BIN

/** A seeder: `cmesh add` of each path into its own repo, then `cmesh daemon`; resolves to its listen address. */
async function seeder (name: string, paths: string[], rate?: string): Promise<string> {
  const repo = join(work, name)
  for (const path of paths) execFileSync(process.execPath, [BIN, 'add', path, '--repo', repo, '--quiet'])
  const daemon = await startDaemon(repo, rate === undefined ? [] : ['--upload-limit', rate])
  daemonPids.push(daemon.pid)
  return daemon.addr
}

/** Wait until every seeder is connected to every other one (at most `ms`); false if they are not by then. */
async function meshed (names: string[], ms: number): Promise<boolean> {
  const deadline = performance.now() + ms
  for (;;) {
    let all = true
    for (const name of names) {
      const api = await daemonApi(join(work, name))
      const peers = api === undefined ? [] : await callApi(api, 'GET', '/api/v0/peers') as PeerInfo[]
      if (peers.length < names.length - 1) all = false
    }
    if (all) return true
    if (performance.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSecondsOf (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime and stime, in clock ticks (USER_HZ = 100)
}

/**
 * A plain libp2p stream between two hosts built as a node builds them (TCP, TLS, yamux), moving `bytes` in 1 MiB
 * frames with no protocol on top: the ceiling of our stack on this machine. Both hosts run in this process.
 */
async function plainLibp2p (bytes: number): Promise<{ mbps: number, cpuSecondsPerGB: number }> {
  const host = async (): Promise<Libp2p> => await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, banned: new Set() })
  const [a, b] = [await host(), await host()]
  try {
    const chunk = randomBytes(1 << 20)
    await a.handle(PLAIN_PROTOCOL, async stream => {
      for (let sent = 0; sent < bytes; sent += chunk.length) await sendFrame(stream, chunk)
      await stream.close()
    })
    await b.dial(a.getMultiaddrs()[0]!)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const stream = await b.dialProtocol(a.peerId, PLAIN_PROTOCOL)
    let got = 0
    for await (const piece of stream) got += piece.byteLength
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    return { mbps: got / 1e6 / seconds, cpuSecondsPerGB: (cpu.user + cpu.system) / 1e6 / (got / 1e9) }
  } finally {
    await a.stop()
    await b.stop()
  }
}

async function download (seeders: string[], cid: CID, name: string): Promise<{
  seconds: number,
  mbps: number,
  verifySeconds: number,
  sources: number,
  blocks: number,
  /** CPU seconds of this process (the leecher) per GB fetched. */
  leecherCpuPerGB: number
}> {
  const leecher = await createNode({
    repo: join(work, name),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    bootstrap: seeders,
    rarestFirst: args.rarest === true
  })
  nodes.push(leecher)
  const cpu0 = process.cpuUsage()
  const r = await leecher.fetch(cid)
  const cpu = process.cpuUsage(cpu0)
  // stop it: a leecher that stayed would be found by the next one (peer exchange) and serve it unthrottled
  await leecher.stop()
  nodes.splice(nodes.indexOf(leecher), 1)
  const bytes = Object.values(r.sources).reduce((a, b) => a + b, 0)
  return {
    seconds: r.seconds,
    mbps: bytes / 1e6 / r.seconds,
    verifySeconds: r.verifySeconds,
    sources: Object.keys(r.sources).length,
    blocks: r.fetchedBlocks,
    leecherCpuPerGB: (cpu.user + cpu.system) / 1e6 / (bytes / 1e9)
  }
}

/** A field of a live process's /proc status in MB (Linux): VmHWM is the peak RSS, RssAnon its anonymous part now. */
function procStatusMB (pid: number, field: 'VmHWM' | 'RssAnon'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find(l => l.startsWith(`${field}:`))
  return Number(line?.split(/\s+/)[1] ?? NaN) * 1024 / 1e6
}

/**
 * A `bigMb` MiB random file 1 -> 1, unthrottled: a seeder daemon holding it and a new node fetching it in a process of
 * its own (bench/big-leecher.ts), so each peak RSS is one node's. The file is removed once the seeder holds it.
 */
async function bigOneToOne (bigMb: number): Promise<{
  mbps: number,
  seconds: number,
  leecherPeakMB: number,
  seederPeakMB: number,
  leecherPeakAnonMB: number,
  seederPeakAnonMB: number,
  leecherCpuPerGB: number,
  seederCpuPerGB: number
}> {
  const path = join(work, 'big.bin')
  const fd = openSync(path, 'w')
  for (let i = 0; i < bigMb; i++) writeSync(fd, randomBytes(1 << 20))
  closeSync(fd)
  const cid = execFileSync(process.execPath, [BIN, 'add', path, '--repo', join(work, 'big-seeder'), '--quiet'], { encoding: 'utf8' }).trim()
  rmSync(path)
  const addr = await seeder('big-seeder', [])
  const pid = daemonPids[daemonPids.length - 1]!
  const cpu0 = cpuSecondsOf(pid)
  // the seeder's anonymous memory (heap, buffers), sampled while it serves; the rest of its RSS is LMDB's mapped file
  let seederPeakAnonMB = procStatusMB(pid, 'RssAnon')
  const sampler = setInterval(() => { seederPeakAnonMB = Math.max(seederPeakAnonMB, procStatusMB(pid, 'RssAnon')) }, 100)
  const child = spawn(process.execPath, [fileURLToPath(new URL('./big-leecher.js', import.meta.url)), join(work, 'big-leecher'), addr, cid], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  clearInterval(sampler)
  if (code !== 0) throw new Error(`big-leecher exited with ${code}`)
  const r = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number, bytes: number, mbps: number, cpuSeconds: number, peakRssMB: number, peakAnonMB: number }
  const gb = r.bytes / 1e9
  const seederCpuPerGB = (cpuSecondsOf(pid) - cpu0) / gb
  return {
    mbps: r.mbps,
    seconds: r.seconds,
    leecherPeakMB: r.peakRssMB,
    seederPeakMB: procStatusMB(pid, 'VmHWM'),
    leecherPeakAnonMB: r.peakAnonMB,
    seederPeakAnonMB,
    leecherCpuPerGB: r.cpuSeconds / gb,
    seederCpuPerGB
  }
}

/** Raw Node TCP over loopback moving `bytes`, no encryption, no framing: the ceiling. */
async function rawTcp (bytes: number): Promise<number> {
  const chunk = randomBytes(1 << 20)
  const server = createServer(socket => {
    let sent = 0
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length
        if (!socket.write(chunk)) { socket.once('drain', pump); return }
      }
      socket.end()
    }
    pump()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    s.on('data', () => {})
    s.on('end', resolve)
    s.on('error', reject)
  })
  const seconds = (performance.now() - t0) / 1000
  server.close()
  return bytes / 1e6 / seconds
}

/** Helia's bitswap moving `file` between two Helia nodes (bench/bitswap.ts, in a process of its own). */
function bitswap (file: string): { seconds?: number, mbps?: number, cpuSecondsPerGB?: number, why?: string } {
  try {
    const out = execFileSync(process.execPath, [fileURLToPath(new URL('./bitswap.js', import.meta.url)), '--file', file, '--json'], { encoding: 'utf8' })
    const r = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number, heliaBitswapMBps: number, cpuSecondsPerGB?: number }
    return { seconds: r.seconds, mbps: r.heliaBitswapMBps, cpuSecondsPerGB: r.cpuSecondsPerGB }
  } catch (err) {
    return { why: (err as Error).message.split('\n')[0] }
  }
}

/**
 * Median time for a new node to list all the nodes of its segment, over --trials starts, in real network
 * namespaces (two daemons on segment A; mDNS only). Needs root and iproute2: otherwise null, with the reason.
 */
async function discovery (trials: number): Promise<{ median: number | null, samples: number[], why?: string }> {
  const why = canRunNamespaces()
  if (why !== undefined) return { median: null, samples: [], why }
  const cleanups: Array<() => void> = []
  const children: ChildProcess[] = []
  try {
    const { hosts } = buildSegments(fn => cleanups.push(fn))
    const ids: string[] = []
    for (const name of ['a2', 'a3']) {
      const child = spawn('ip', [
        'netns',
        'exec',
        hosts.get(name)!.ns,
        process.execPath,
        BIN,
        'daemon',
        '--repo',
        join(work, `ns-${name}`), '--json', '--listen', '/ip4/0.0.0.0/tcp/4001'],
      { stdio: ['ignore', 'pipe', 'inherit'] }
      )
      children.push(child)
      const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
      ids.push((JSON.parse(line) as { peerId: string }).peerId)
    }
    const samples: number[] = []
    for (let i = 0; i < trials; i++) {
      const out = execFileSync('ip', [
        'netns',
        'exec',
        hosts.get('a1')!.ns,
        process.execPath,
        BIN,
        'peers',
        '--repo',
        join(work, `ns-a1-${i}`), '--json', '--wait', '2', '--listen', '/ip4/0.0.0.0/tcp/4001'],
      { encoding: 'utf8' }
      )
      const peers = out.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { peerId: string, discoveredAfterMs?: number })
      const found = ids.map(id => peers.find(p => p.peerId === id)?.discoveredAfterMs)
      if (found.every(ms => ms !== undefined)) samples.push(Math.max(...found as number[]) / 1000)
    }
    const sorted = [...samples].sort((a, b) => a - b)
    return { median: sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)]!, samples }
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map(async c => c.exitCode === null ? await once(c, 'exit') : undefined))
    for (const fn of cleanups) fn()
  }
}

try {
  const mb = Number(args.mb)
  const rate = parseRate(String(args.rate))
  const count = Number(args.seeders)
  const file = join(work, 'data.bin')
  const fd = openSync(file, 'w')
  for (let i = 0; i < mb; i++) writeSync(fd, randomBytes(1 << 20))
  closeSync(fd)

  const tree = String(args.tree)
  const oneToOneOnly = args['one-to-one'] === true
  const names = Array.from({ length: oneToOneOnly ? 0 : count }, (_, i) => `seeder-${i}`)
  const seeders: string[] = []
  for (const name of names) seeders.push(await seeder(name, [file, tree], String(args.rate)))
  const add = (path: string, repo = 'seeder-0'): CID => parseCid(execFileSync(
    process.execPath,
    [BIN, 'add', path, '--repo', join(work, repo), '--quiet'],
    { encoding: 'utf8' }
  ).trim())
  const cid = oneToOneOnly ? add(file, 'free-seeder') : add(file)
  const treeCid = oneToOneOnly ? undefined : add(tree)
  const skipped = { seconds: NaN, mbps: NaN, verifySeconds: NaN, sources: 0, blocks: 0, leecherCpuPerGB: NaN }
  // one seeder alone, before the seeders have met (afterwards a leecher of one would hear of the others)
  const one = oneToOneOnly ? skipped : await download(seeders.slice(0, 1), cid, 'leecher-1')
  const treeOne = treeCid === undefined ? skipped : await download(seeders.slice(0, 1), treeCid, 'leecher-tree-1')
  // the seeders have not met: this download introduces them to each other
  const cold = oneToOneOnly ? skipped : await download(seeders, cid, `leecher-${count}-cold`)
  const joined = oneToOneOnly ? false : await meshed(names, 20_000)
  const many = oneToOneOnly ? skipped : await download(seeders, cid, `leecher-${count}`)
  const treeMany = treeCid === undefined ? skipped : await download(seeders, treeCid, `leecher-tree-${count}`)
  const free = await seeder('free-seeder', oneToOneOnly ? [] : [file])
  const freePid = daemonPids[daemonPids.length - 1]!
  const seederCpu0 = cpuSecondsOf(freePid)
  const unthrottled = await download([free], cid, 'leecher-free')
  const seederCpuPerGB = (cpuSecondsOf(freePid) - seederCpu0) / (mb * 1.048576 / 1e3)
  const raw = await rawTcp(mb * 1024 * 1024)
  const plain = await plainLibp2p(mb * 1024 * 1024)
  const helia = bitswap(file)
  const bigMb = Number(args['big-mb'])
  const big = bigMb > 0 ? await bigOneToOne(bigMb) : undefined
  const found = oneToOneOnly ? { median: null, samples: [], why: 'not run (--one-to-one)' } : await discovery(Number(args.trials))

  const speedup = one.seconds / many.seconds
  const treeSpeedup = treeOne.seconds / treeMany.seconds
  const row = (run: string, r: Awaited<ReturnType<typeof download>>, ratio: string): Record<string, string | number> =>
    ({ run, seconds: r.seconds.toFixed(2), 'MB/s': r.mbps.toFixed(1), sources: r.sources, 'verify s': r.verifySeconds.toFixed(2), ratio })
  const rows = [
    ...(oneToOneOnly
      ? []
      : [
          row(`${mb} MiB file, 1 seeder at ${args.rate}`, one, '1.00'),
          row(`${mb} MiB file, ${count} seeders at ${args.rate} each`, many, `${speedup.toFixed(2)}x speedup (ideal ${count}x)${joined ? '' : ' (seeders not all connected)'}`),
          row(`${mb} MiB file, ${count} seeders meeting during it (cold)`, cold, `${(one.seconds / cold.seconds).toFixed(2)}x`),
          row(`package tree (${treeOne.blocks} blocks), 1 seeder`, treeOne, '1.00'),
          row(`package tree, ${count} seeders`, treeMany, `${treeSpeedup.toFixed(2)}x speedup`)]),
    row('1 -> 1 unthrottled (cmesh)', unthrottled, `${(unthrottled.mbps / plain.mbps).toFixed(2)} of the plain libp2p stream`),
    {
      run: 'Helia bitswap 1 -> 1 (its defaults: SHA-256, 256 KiB chunks; memory blockstores)',
      seconds: helia.seconds?.toFixed(2) ?? `n/a: ${helia.why}`,
      'MB/s': helia.mbps?.toFixed(1) ?? '',
      sources: 1,
      'verify s': '',
      ratio: helia.mbps === undefined ? '' : `${(unthrottled.mbps / helia.mbps).toFixed(2)}x: cmesh / Helia`
    },
    { run: 'plain libp2p stream 1 -> 1 (TCP, TLS, yamux; no protocol)', seconds: (mb * 1.048576 / plain.mbps).toFixed(2), 'MB/s': plain.mbps.toFixed(1), sources: 1, 'verify s': '', ratio: '' },
    {
      run: 'CPU s per GB, both ends: cmesh (leecher + seeder) / Helia / plain stream',
      seconds: '',
      'MB/s': '',
      sources: '',
      'verify s': '',
      ratio: `${(unthrottled.leecherCpuPerGB + seederCpuPerGB).toFixed(1)} (${unthrottled.leecherCpuPerGB.toFixed(1)} + ${seederCpuPerGB.toFixed(1)})` +
        ` / ${helia.cpuSecondsPerGB?.toFixed(1) ?? 'n/a'} / ${plain.cpuSecondsPerGB.toFixed(1)}`
    },
    ...(big === undefined
      ? []
      : [{
          run: `${bigMb} MiB file 1 -> 1 unthrottled (leecher in its own process)`,
          seconds: big.seconds.toFixed(2),
          'MB/s': big.mbps.toFixed(1),
          sources: 1,
          'verify s': '',
          ratio: `peak RSS ${big.leecherPeakMB.toFixed(0)} MB leecher (${big.leecherPeakAnonMB.toFixed(0)} anonymous), ` +
            `${big.seederPeakMB.toFixed(0)} MB seeder (${big.seederPeakAnonMB.toFixed(0)} anonymous); ` +
            `CPU s/GB ${big.leecherCpuPerGB.toFixed(1)} + ${big.seederCpuPerGB.toFixed(1)}`
        }]),
    { run: 'raw Node TCP, loopback', seconds: (mb * 1.048576 / raw).toFixed(2), 'MB/s': raw.toFixed(1), sources: 1, 'verify s': '', ratio: '1.00' },
    { run: `discovery: new node lists its segment (median of ${found.samples.length})`, seconds: found.median?.toFixed(3) ?? `n/a: ${found.why ?? 'no trial found every peer'}`, 'MB/s': '', sources: '', 'verify s': '', ratio: 'mDNS in network namespaces' }
  ]
  printTable(rows, args.json === true, {
    mb,
    seeders: count,
    ratePerSeeder: rate,
    speedup,
    speedupCold: one.seconds / cold.seconds,
    seedersMeshed: joined,
    oneSeederSeconds: one.seconds,
    manySeedersSeconds: many.seconds,
    coldSeconds: cold.seconds,
    verifySeconds: many.verifySeconds,
    treeBlocks: treeOne.blocks,
    treeSpeedup,
    treeOneSeederSeconds: treeOne.seconds,
    treeManySeedersSeconds: treeMany.seconds,
    oneToOneMBps: unthrottled.mbps,
    rawTcpMBps: raw,
    heliaBitswapMBps: helia.mbps ?? null,
    oneToOneOverHelia: helia.mbps === undefined ? null : unthrottled.mbps / helia.mbps,
    plainLibp2pMBps: plain.mbps,
    oneToOneOverPlainLibp2p: unthrottled.mbps / plain.mbps,
    leecherCpuSecondsPerGB: unthrottled.leecherCpuPerGB,
    seederCpuSecondsPerGB: seederCpuPerGB,
    heliaCpuSecondsPerGB: helia.cpuSecondsPerGB ?? null,
    plainLibp2pCpuSecondsPerGB: plain.cpuSecondsPerGB,
    bigMb,
    bigMBps: big?.mbps ?? null,
    bigLeecherPeakRssMB: big?.leecherPeakMB ?? null,
    bigSeederPeakRssMB: big?.seederPeakMB ?? null,
    bigLeecherPeakAnonMB: big?.leecherPeakAnonMB ?? null,
    bigSeederPeakAnonMB: big?.seederPeakAnonMB ?? null,
    bigLeecherCpuSecondsPerGB: big?.leecherCpuPerGB ?? null,
    bigSeederCpuSecondsPerGB: big?.seederCpuPerGB ?? null,
    discoveryMedianSeconds: found.median,
    discoverySamples: found.samples
  })
} finally {
  for (const n of nodes) await n.stop().catch(() => {})
  await stopDaemons()
  rmSync(work, { recursive: true, force: true })
}
