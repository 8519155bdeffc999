/**
 * `npm run demo`: two real releases of a package (installed as npm-aliased devDependencies, so no network is
 * needed) go into one store. The demo shows what the second release shares with the first, and what a node
 * holding the first would have to fetch to get the second: only the blocks it lacks. Then a neighbourhood of
 * nodes swarm-downloads it, and a maintainer publishes both as signed releases that neighbours install, update,
 * and finally get from a plain HTTP mirror once every peer is gone.
 */
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { walkDag } from '../src/dag/car.js'
import { ls } from '../src/dag/exporter.js'
import { importPath } from '../src/dag/importer.js'
import { createNode, type CmeshNode } from '../src/node/index.js'
import { generatePublisherKey } from '../src/policy/trust/keys.js'
import { createStore } from '../src/store/index.js'
import type { Blockstore } from '../src/store/interface.js'
import { communityCacheDemo } from './cache.js'
import { neighbourhoodReport } from './report.js'

const OLD = 'prettier-3.5.2'
const NEW = 'prettier-3.5.3'

const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`
const require = createRequire(import.meta.url)

interface FileInfo { path: string, cid: string, size: number }

/** Every file of a directory DAG with its path, CID and size. */
async function files (store: Blockstore, cid: CID, prefix = ''): Promise<FileInfo[]> {
  const out: FileInfo[] = []
  for await (const e of ls(store, cid)) {
    const path = prefix + e.name
    if (e.kind === 'dir') out.push(...await files(store, e.cid!, path + '/'))
    else if (e.kind === 'file') out.push({ path, cid: e.cid!.toString(), size: e.size })
  }
  return out
}

async function blockSet (store: Blockstore, root: CID): Promise<Map<string, number>> {
  const set = new Map<string, number>()
  for await (const b of walkDag(store, root)) set.set(b.cid.toString(), b.bytes.length)
  return set
}

/** A small neighbourhood of real nodes on this machine: they find each other, then swarm-download a package. */
async function neighbourhood (newDir: string, repoRoot: string): Promise<void> {
  console.log('\n--- A neighbourhood of five nodes on this machine ---\n')
  const t0 = Date.now()
  const names = ['alice', 'bob', 'carol', 'dave', 'erin']
  const nodes: CmeshNode[] = []
  try {
    // on a real network segment mDNS finds neighbours by itself; here on loopback, one address (alice's) and
    // peer exchange do it
    for (const name of names) {
      const bootstrap = nodes.length === 0 ? [] : [nodes[0]!.addrs()[0]!]
      nodes.push(await createNode({ repo: join(repoRoot, name), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, uploadLimit: 20e6 }))
    }
    for (let i = 0; i < 100 && nodes.some(n => n.libp2p.getPeers().length < names.length - 1); i++) await new Promise(resolve => setTimeout(resolve, 50))
    for (const [i, n] of nodes.entries()) {
      console.log(`  ${names[i]!.padEnd(6)} ${n.peerId.toString().slice(0, 16)}…  knows ${n.libp2p.getPeers().length} peers  (${Date.now() - t0} ms after the start)`)
    }
    const added = await nodes[0]!.add(newDir)
    console.log(`\n  alice adds ${NEW}: ${added.cid}`)
    const label = new Map(nodes.map((n, i) => [n.peerId.toString(), names[i]!]))
    for (const [i, n] of nodes.entries()) {
      if (i === 0) continue
      const r = await n.fetch(added.cid)
      const bytes = Object.values(r.sources).reduce((a, b) => a + b, 0)
      const from = Object.entries(r.sources).filter(([, b]) => b > 0).map(([id, b]) => `${label.get(id) ?? id.slice(0, 8)} ${mb(b)}`).join(', ')
      console.log(`  ${names[i]!.padEnd(6)} fetched ${mb(bytes)} in ${r.seconds.toFixed(2)} s (${(bytes / 1e6 / r.seconds).toFixed(1)} MB/s), verified, from: ${from}`)
    }
    console.log('\nEach node uploads at most 20 MB/s; later nodes download from everyone who already has the package.')
  } finally {
    for (const n of nodes) await n.stop()
  }
}

/** A plain web server holding a release's files, with single-range support (what any static host does). */
async function staticServer (root: string): Promise<{ url: string, requests: () => number, close: () => Promise<void> }> {
  let requests = 0
  const server = createServer((req, res) => {
    requests++
    const path = join(root, ...decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).split('/').filter(p => p !== '' && p !== '..'))
    let size: number
    try {
      size = statSync(path).size
    } catch {
      res.writeHead(404).end()
      return
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
    if (m === null) {
      res.writeHead(200, { 'content-length': size })
      createReadStream(path).pipe(res)
      return
    }
    const start = Number(m[1])
    const end = Math.min(Number(m[2]), size - 1)
    res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` })
    createReadStream(path, { start, end }).pipe(res)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    close: async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) }
  }
}

/** A maintainer publishes signed releases; neighbours install and update; then a newcomer uses a plain HTTP mirror. */
async function releases (oldDir: string, newDir: string, repoRoot: string): Promise<void> {
  console.log('\n--- Signed releases: publish, update, mirror fallback ---\n')
  const key = generatePublisherKey()
  const mirror = await staticServer(newDir)
  const nodes: CmeshNode[] = []
  try {
    const maintainer = await createNode({ repo: join(repoRoot, 'maintainer'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    nodes.push(maintainer)
    const v1 = await maintainer.publish(oldDir, { name: 'prettier', version: '3.5.2', key })
    console.log(`  maintainer publishes prettier 3.5.2 (seq ${v1.manifest.seq}), signed by ${key.publicKey.slice(0, 28)}…`)
    const neighbours: CmeshNode[] = []
    for (const name of ['frank', 'grace']) {
      const n = await createNode({ repo: join(repoRoot, name), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [maintainer.addrs()[0]!] })
      nodes.push(n)
      neighbours.push(n)
      n.trust.add('prettier', key.publicKey)
      const r = await n.update('prettier')
      console.log(`  ${name.padEnd(6)} installs ${r.version}: ${mb(r.wireBytes)} on the wire for ${mb(r.size)} (blocks travel compressed), ${r.seconds.toFixed(2)} s`)
    }
    const v2 = await maintainer.publish(newDir, { name: 'prettier', version: '3.5.3', key, mirrors: [{ url: mirror.url, type: 'files' }] })
    console.log(`\n  maintainer publishes prettier 3.5.3 (seq ${v2.manifest.seq}), with a plain HTTP mirror ${mirror.url}`)
    for (const [i, n] of neighbours.entries()) {
      const r = await n.update('prettier')
      console.log(`  ${['frank', 'grace'][i]!.padEnd(6)} updates to ${r.version}: ${mb(r.wireBytes)} on the wire for a ${mb(r.size)} release (${(100 * r.wireBytes / r.size).toFixed(2)} %)`)
    }
    for (const n of nodes.splice(0)) await n.stop()
    console.log('\n  every peer is stopped. A newcomer has the signed bundle (from the mirror, a USB stick, anywhere):')
    const newcomer = await createNode({ repo: join(repoRoot, 'newcomer'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    nodes.push(newcomer)
    newcomer.trust.add('prettier', key.publicKey)
    const before = mirror.requests()
    const r = await newcomer.update('prettier', { bundle: v2.bundle })
    console.log(`  newcomer installs ${r.version} from the mirror: ${mb(r.wireBytes)} in ${mirror.requests() - before} HTTP requests, every chunk verified, ${r.seconds.toFixed(2)} s`)
    const rollback = await newcomer.update('prettier', { bundle: v1.bundle }).catch((err: Error & { code?: string }) => err.code)
    console.log(`  offered the older 3.5.2 again, it refuses: ${String(rollback)}`)
  } finally {
    for (const n of nodes) await n.stop()
    await mirror.close()
  }
}

/** A community leader posts a notice to a collection; every neighbour holds it within moments. */
async function notices (repoRoot: string): Promise<void> {
  console.log('\n--- A community collection: a notice reaches every neighbour ---\n')
  const leader = generatePublisherKey()
  const governance = {
    name: 'neighbourhood',
    publishers: [leader.publicKey],
    moderators: [leader.publicKey],
    quotas: { maxResourceBytes: 50e6, maxAnnouncementsPerHour: 60, maxBytesPerDay: 500e6 },
    retentionDays: 30
  }
  const names = ['leader', 'hana', 'ivan', 'jo', 'kemal']
  const nodes: CmeshNode[] = []
  try {
    for (const name of names) {
      const bootstrap = nodes.length === 0 ? [] : [nodes[nodes.length - 1]!.addrs()[0]!]
      const n = await createNode({ repo: join(repoRoot, `c-${name}`), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap })
      await n.collections.join(governance)
      nodes.push(n)
    }
    // let gossipsub build its mesh (heartbeats) before the notice goes out
    await new Promise(resolve => setTimeout(resolve, 2000))
    const notice = join(repoRoot, 'water-notice.txt')
    writeFileSync(notice, 'The water will be off on Saturday from 9 to 12 for pipe repairs. Fill a bucket on Friday.\n')
    const got = new Map<string, number>()
    const done = new Promise<void>(resolve => {
      for (const [i, n] of nodes.entries()) {
        if (i === 0) continue
        n.collections.on(e => {
          if (e.type === 'synced' && !got.has(names[i]!)) {
            got.set(names[i]!, performance.now() - t0)
            if (got.size === names.length - 1) resolve()
          }
        })
      }
    })
    const t0 = performance.now()
    const shared = await nodes[0]!.collections.share(notice, {
      collection: 'neighbourhood',
      key: leader,
      title: 'Water off on Saturday',
      purpose: 'notice',
      tags: ['water']
    })
    console.log(`  the leader posts a notice (${shared.size ?? 0} bytes, root ${shared.root ?? ''}), signed, to ${shared.recipients} neighbour(s) directly`)
    await Promise.race([done, new Promise(resolve => setTimeout(resolve, 20_000))])
    for (const name of names.slice(1)) {
      const ms = got.get(name)
      console.log(`  ${name.padEnd(6)} ${ms === undefined ? 'did not get it within 20 s' : `holds it, verified, ${ms.toFixed(0)} ms after it was posted`}`)
    }
    console.log('\n  Each node was given one neighbour\'s address and found the rest by peer exchange; gossipsub carries the')
    console.log('  signed announcement, every node checks it before relaying it, and fetches the notice from whoever has it.')
    console.log('  Unsigned, unauthorised, oversized, replayed or flooding announcements are rejected before they are relayed.')
  } finally {
    for (const n of nodes) await n.stop()
  }
}

async function main (): Promise<void> {
  const oldDir = dirname(require.resolve(`${OLD}/package.json`))
  const newDir = dirname(require.resolve(`${NEW}/package.json`))
  const repo = mkdtempSync(join(tmpdir(), 'cmesh-demo-'))
  const store = createStore({ repo })
  try {
    console.log('CommunityMesh demo: two releases of prettier, cut into content-defined blocks\n')
    const t0 = performance.now()
    const v1 = await importPath(store, oldDir)
    const t1 = performance.now()
    const v2 = await importPath(store, newDir)
    const t2 = performance.now()
    console.log(`  ${OLD.padEnd(16)} ${mb(v1.size).padStart(10)} in ${String(v1.blocks).padStart(4)} blocks  root ${v1.cid}  (${((t1 - t0) / 1000).toFixed(2)} s)`)
    console.log(`  ${NEW.padEnd(16)} ${mb(v2.size).padStart(10)} in ${String(v2.blocks).padStart(4)} blocks  root ${v2.cid}  (${((t2 - t1) / 1000).toFixed(2)} s)`)

    const oldBlocks = await blockSet(store, v1.cid)
    const newBlocks = await blockSet(store, v2.cid)
    let sharedBytes = 0
    let shared = 0
    for (const [cid, size] of newBlocks) if (oldBlocks.has(cid)) { shared++; sharedBytes += size }
    console.log(`\nThe new release shares ${shared} of its ${newBlocks.size} blocks (${mb(sharedBytes)}) with the old one.`)
    console.log(`A neighbour holding ${OLD} fetches ${v2.newBlocks} blocks, ${mb(v2.newBytes)} of ${mb(v2.size)}: ${(100 * (1 - v2.newBytes / v2.size)).toFixed(1)} % saved.\n`)

    const before = new Map((await files(store, v1.cid)).map(f => [f.path, f]))
    const after = await files(store, v2.cid)
    const changed: Array<{ path: string, size: number, fetch: number, status: string }> = []
    let unchanged = 0
    for (const f of after) {
      const old = before.get(f.path)
      if (old?.cid === f.cid) { unchanged++; continue }
      let fetch = 0
      for await (const b of walkDag(store, (await import('../src/dag/cid.js')).parseCid(f.cid))) {
        if (!oldBlocks.has(b.cid.toString())) fetch += b.bytes.length
      }
      changed.push({ path: f.path, size: f.size, fetch, status: old === undefined ? 'new' : 'changed' })
    }
    console.log(`${unchanged} of ${after.length} files are identical (same CID, nothing to fetch). The others:`)
    changed.sort((a, b) => b.fetch - a.fetch)
    console.log(`  ${'file'.padEnd(44)} ${'status'.padEnd(8)} ${'size'.padStart(11)} ${'to fetch'.padStart(11)}`)
    for (const c of changed.slice(0, 12)) {
      console.log(`  ${c.path.padEnd(44)} ${c.status.padEnd(8)} ${mb(c.size).padStart(11)} ${mb(c.fetch).padStart(11)}`)
    }
    if (changed.length > 12) console.log(`  … and ${changed.length - 12} more`)
    console.log('\nEvery block fetched is verified against its CID; blocks of unchanged content are never sent twice.')
    await store.close()
    await neighbourhood(newDir, repo)
    await releases(oldDir, newDir, repo)
    await notices(repo)
    await communityCacheDemo(repo)
    await neighbourhoodReport(repo)
  } finally {
    await store.close()
    rmSync(repo, { recursive: true, force: true })
  }
}

await main()
