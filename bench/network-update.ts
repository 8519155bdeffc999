/**
 * A package update over the network, for bench/update.ts: real nodes on loopback (TCP, TLS, yamux) in this
 * process. A seeder publishes the old version (seq 1); a client bootstrapped to it trusts the key and installs
 * it; the seeder publishes the new version (seq 2) and the client updates. What that update received is the
 * measurement.
 */
import type { ImportFormat } from '../src/dag/importer.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type CmeshNode } from '../src/node/index.js'
import { generatePublisherKey } from '../src/policy/trust/keys.js'
import { countingProxy, type CountingProxy } from './tcp-proxy.js'

/** One release name for every pair: package names need not be valid release names, and the name costs nothing. */
const RELEASE_NAME = 'bench-package'

export interface NetworkUpdate {
  /**
   * Bytes the update received on the wire from peers, as UpdateResult reports: blocks (compressed, with framing)
   * and the release bundles received (the signed envelope; the DAG interior only when a file mirror needs it).
   */
  wireBytes: number
  /** Wire bytes per source. */
  sources: Record<string, number>
  /**
   * Bytes the client received through the TCP socket during the update, counted by a relay between the two
   * nodes: blocks, the bundle, TLS and yamux framing, identify and ping. The ground truth for the other counts.
   */
  socketBytes: number
  /** Bytes the client sent through the TCP socket during the update (requests: block wants, delta wants with their bases). */
  socketUpBytes: number
  /** Bytes of the blocks fetched and stored. */
  fetchedBytes: number
  /** Of wireBytes, the release bundles received through the release exchange. */
  bundleBytes: number
  /** Content bytes of the new release. */
  size: number
  /** Duration of the update. */
  seconds: number
  /** Wire bytes of the first install (of the old version), for reference. */
  installWireBytes: number
}

/** Measure the update from `oldDir` to `newDir` between two fresh nodes on loopback; stops both and removes their repos. */
/** `format`: the DAG format the seeder publishes in (cmesh's own, or UnixFS). */
/** `deltas: false`: the seeder serves no block deltas (src/sync/delta), so the update moves plain blocks only. */
export async function networkUpdate (oldDir: string, newDir: string, format: ImportFormat = 'cmesh', deltas = true): Promise<NetworkUpdate> {
  const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-netupdate-'))
  const nodes: CmeshNode[] = []
  let proxy: CountingProxy | undefined
  try {
    const key = generatePublisherKey()
    const seeder = await createNode({ repo: join(work, 'seeder'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, serveDeltas: deltas })
    nodes.push(seeder)
    await seeder.publish(oldDir, { name: RELEASE_NAME, version: '1.0.0', key, import: { format } })
    // the client reaches the seeder through the relay only: the seeder's address, with the relay's port
    const addr = seeder.addrs()[0]!
    const m = /^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)(\/p2p\/.+)$/.exec(addr)
    if (m === null) throw new Error(`unexpected seeder address ${addr}`)
    proxy = await countingProxy('127.0.0.1', Number(m[1]))
    const client = await createNode({ repo: join(work, 'client'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [`/ip4/127.0.0.1/tcp/${proxy.port}${m[2]!}`] })
    nodes.push(client)
    client.trust.add(RELEASE_NAME, key.publicKey)
    const install = await client.update(RELEASE_NAME)
    if (install.seq !== 1) throw new Error(`the client installed seq ${install.seq}, expected 1`)
    await seeder.publish(newDir, { name: RELEASE_NAME, version: '2.0.0', key, import: { format } })
    const before = proxy.down
    const beforeUp = proxy.up
    const r = await client.update(RELEASE_NAME)
    const socketBytes = proxy.down - before
    const socketUpBytes = proxy.up - beforeUp
    const direct = client.libp2p.getConnections().filter(c => !c.remoteAddr.toString().includes(`/tcp/${proxy!.port}`))
    if (direct.length > 0) throw new Error(`the client has connections around the relay (${direct.map(c => c.remoteAddr.toString()).join(', ')}): socketBytes would miss them`)
    if (r.seq !== 2 || r.upToDate) throw new Error(`the client's update got seq ${r.seq} (upToDate ${String(r.upToDate)}), expected seq 2`)
    return {
      wireBytes: r.wireBytes,
      socketBytes,
      socketUpBytes,
      sources: r.sources,
      fetchedBytes: r.fetchedBytes,
      bundleBytes: r.bundleBytes,
      size: r.size,
      seconds: r.seconds,
      installWireBytes: install.wireBytes
    }
  } finally {
    for (const n of nodes.reverse()) await n.stop().catch(() => {})
    await proxy?.close()
    rmSync(work, { recursive: true, force: true })
  }
}
