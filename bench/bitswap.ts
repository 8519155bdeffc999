/**
 * How fast is Helia's bitswap on loopback? `npm run bench:bitswap [-- --mb 128 --file F --concurrency 64 --window 0 --json]`
 *
 * Two Helia nodes in this process (createHeliaLight + withLibp2pLight + withBitswap: no DHT, no HTTP routers, no
 * default libp2p services but identify), each on TCP 127.0.0.1 with the encryption and muxer cmesh uses (TLS, yamux).
 * A --mb MiB random file (or --file, which bench:swarm passes so both move the same bytes) is imported with
 * ipfs-unixfs-importer (its defaults: SHA-256, fixed 256 KiB chunks, raw leaves) into node A's memory blockstore;
 * node B, dialled to A, then fetches every block of the DAG over bitswap,
 * walking it itself with --concurrency blocks asked for at once (Helia's own pin walker asks for one at a time).
 * The clock runs from B's first request to its last block, after both nodes are connected and identified. Helia
 * checks each block against its CID on arrival; at the end B must hold exactly A's blocks and bytes.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight, type HeliaWithLibp2p } from '@helia/libp2p'
import * as dagPb from '@ipld/dag-pb'
import { identify } from '@libp2p/identify'
import type { IdentifyResult, ServiceMap } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { yamux } from '@libp2p/yamux'
import { MemoryBlockstore } from 'blockstore-core'
import { createHeliaLight } from 'helia'
import { importer } from 'ipfs-unixfs-importer'
import type { CID } from 'multiformats/cid'
import { parseBenchArgs, printTable } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), { mb: 128, concurrency: 64, timeout: 600, window: 0, file: '' })
const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-bitswap-'))
const nodes: Array<HeliaWithLibp2p<ServiceMap>> = []
/** yamux's initial stream window in bytes; 0 keeps yamux's default (cmesh runs with 2 MiB, 4x that at most). */
const window = Number(args.window)

/** A started Helia node over `blockstore`, listening on an ephemeral loopback port. */
async function heliaNode (blockstore: MemoryBlockstore): Promise<HeliaWithLibp2p<ServiceMap>> {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [tls()],
    streamMuxers: [window > 0 ? yamux({ streamOptions: { initialStreamWindowSize: window, maxStreamWindowSize: 4 * window } }) : yamux()],
    // bitswap learns which peers speak its protocol from identify
    services: { identify: identify() }
  }))
  nodes.push(helia)
  await helia.start()
  return helia
}

/** Resolves when `node` has identified the peer `peer` (so bitswap counts it as a bitswap peer). */
function identified (node: HeliaWithLibp2p<ServiceMap>, peer: string): Promise<void> {
  return new Promise(resolve => {
    const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
      if (evt.detail.peerId.toString() !== peer) return
      node.libp2p.removeEventListener('peer:identify', onIdentify)
      resolve()
    }
    node.libp2p.addEventListener('peer:identify', onIdentify)
  })
}

/** Every block under `root`, fetched through `helia.blockstore` with at most `concurrency` requests in flight. */
async function fetchDag (helia: HeliaWithLibp2p<ServiceMap>, root: CID, concurrency: number, signal: AbortSignal): Promise<{ blocks: number, bytes: number }> {
  const queue: CID[] = [root]
  let inFlight = 0
  let blocks = 0
  let bytes = 0
  return await new Promise((resolve, reject) => {
    let failed = false
    const fetchOne = async (cid: CID): Promise<void> => {
      const chunks: Uint8Array[] = []
      for await (const chunk of helia.blockstore.get(cid, { signal })) chunks.push(chunk)
      const block = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      blocks++
      bytes += block.byteLength
      if (cid.code === dagPb.code) for (const link of dagPb.decode(block).Links) queue.push(link.Hash)
    }
    const pump = (): void => {
      if (failed) return
      while (inFlight < concurrency && queue.length > 0) {
        const cid = queue.shift()!
        inFlight++
        fetchOne(cid).then(() => { inFlight--; pump() }, (err: unknown) => { failed = true; reject(err) })
      }
      if (inFlight === 0 && queue.length === 0) resolve({ blocks, bytes })
    }
    pump()
  })
}

/** The installed version of an npm package, read from the package.json above its entry point. */
function versionOf (pkg: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(pkg)))
  while (!existsSync(join(dir, 'package.json')) || (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name !== pkg) {
    const up = dirname(dir)
    if (up === dir) return 'unknown'
    dir = up
  }
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
}

try {
  const given = String(args.file)
  const mb = given === '' ? Number(args.mb) : statSync(given).size / (1 << 20)
  const concurrency = Number(args.concurrency)
  const file = given === '' ? join(work, 'data.bin') : given
  if (given === '') {
    const fd = openSync(file, 'w')
    for (let i = 0; i < mb; i++) writeSync(fd, randomBytes(1 << 20))
    closeSync(fd)
  }

  // import into A's blockstore before A starts: the DAG is there when B asks
  const storeA = new MemoryBlockstore()
  let sourceBlocks = 0
  let sourceBytes = 0
  const counting = {
    put: async (cid: CID, bytes: Uint8Array): Promise<CID> => {
      sourceBlocks++
      sourceBytes += bytes.byteLength
      return await storeA.put(cid, bytes)
    }
  }
  let root: CID | undefined
  for await (const entry of importer([{ path: 'data.bin', content: createReadStream(file) }], counting as unknown as MemoryBlockstore)) root = entry.cid
  if (root === undefined) throw new Error('the importer produced no root')
  if (given === '') rmSync(file)

  const a = await heliaNode(storeA)
  const storeB = new MemoryBlockstore()
  const b = await heliaNode(storeB)
  const ready = Promise.all([identified(a, b.libp2p.peerId.toString()), identified(b, a.libp2p.peerId.toString())])
  await b.libp2p.dial(a.libp2p.getMultiaddrs())
  await ready

  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const got = await fetchDag(b, root, concurrency, AbortSignal.timeout(Number(args.timeout) * 1000))
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  // both nodes live in this process: their CPU together, per GB moved
  const cpuSecondsPerGB = (cpu.user + cpu.system) / 1e6 / (got.bytes / 1e9)

  let heldBlocks = 0
  for await (const _ of storeB.getAll()) heldBlocks++
  if (got.blocks !== sourceBlocks || got.bytes !== sourceBytes || heldBlocks !== sourceBlocks) {
    throw new Error(`B got ${got.blocks} blocks / ${got.bytes} bytes (holds ${heldBlocks}), A has ${sourceBlocks} / ${sourceBytes}`)
  }
  const mbps = got.bytes / 1e6 / seconds
  const versions = { helia: versionOf('helia'), '@helia/bitswap': versionOf('@helia/bitswap'), libp2p: versionOf('libp2p') }
  printTable([{
    run: 'Helia bitswap A -> B (TCP 127.0.0.1, TLS, yamux)',
    MiB: mb,
    blocks: got.blocks,
    'in flight': concurrency,
    'yamux window': window > 0 ? window : 'default',
    seconds: seconds.toFixed(2),
    'MB/s': mbps.toFixed(1),
    'CPU s/GB (both ends)': cpuSecondsPerGB.toFixed(1)
  }], args.json === true, {
    mb,
    blocks: got.blocks,
    bytes: got.bytes,
    concurrency,
    yamuxWindow: window > 0 ? window : 'default',
    seconds,
    heliaBitswapMBps: mbps,
    cpuSecondsPerGB,
    versions
  })
} finally {
  for (const n of nodes.reverse()) await n.stop().catch(() => {})
  rmSync(work, { recursive: true, force: true })
}
