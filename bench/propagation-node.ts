/**
 * Child of bench/propagation.ts: hosts one or more cmesh nodes and obeys the parent over IPC. Each node has its
 * own repo, listens on loopback, mDNS off. Events go back as messages stamped with Date.now() (one machine, one
 * clock): 'accepted' and 'synced' for the bench's resources, counts only for a flooder's announcements.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createNode, type CmeshNode } from '../src/node/index.js'
import { signAnnouncement } from '../src/policy/collections/announcement.js'
import { collectionTopic, parseGovernance, type Purpose } from '../src/policy/collections/governance.js'
import type { PublisherKey } from '../src/policy/trust/keys.js'

export type Command =
  | { cmd: 'start', idx: number, repo: string, bootstrap: string[], uploadLimit?: number, pex: boolean, doc?: unknown, flooder?: string, trading?: boolean, superSeed?: boolean }
  | { cmd: 'stop', idx: number }
  | { cmd: 'status', idx: number }
  | { cmd: 'sent', idx: number }
  | { cmd: 'share', idx: number, path: string, id: string, keyPem: string, purpose: Purpose }
  | { cmd: 'flood', idx: number, keyPem: string, doc: unknown, perMinute: number, max: number, dir: string }
  | { cmd: 'flood-stop', idx: number }
  | { cmd: 'rss' }
  | { cmd: 'counts' }
  | { cmd: 'shutdown' }

export type Reply =
  | { type: 'started', idx: number, addrs: string[], at: number }
  | { type: 'stopped', idx: number, at: number }
  | { type: 'status', idx: number, peers: number, mesh: number }
  | { type: 'sent', idx: number, bytes: number }
  | { type: 'accepted', idx: number, id: string, via: string, at: number }
  | { type: 'synced', idx: number, id: string, at: number }
  | { type: 'shared', idx: number, id: string, root: string, size: number, startedAt: number, at: number }
  | { type: 'flooded', idx: number, sent: number, seconds: number }
  | { type: 'flood-counts', accepted: number[], rejected: Record<string, number> }
  | { type: 'rss', rss: number, anon: number, file: number, heap: number, external: number }
  | { type: 'error', idx: number, cmd: string, message: string }

const COLLECTION_NAME = 'propagation'
const nodes = new Map<number, CmeshNode>()
/** Flood announcements accepted per node index, and rejections by code over this process's nodes. */
const floodAccepted = new Map<number, number>()
const floodRejected: Record<string, number> = {}
let flooding = false
let peakRss = 0

function send (r: Reply): void {
  if (process.connected) process.send?.(r)
}

function key (pem: string): PublisherKey {
  const privateKey = createPrivateKey(pem)
  const publicKey = `ed25519:${createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64url')}`
  return { alg: 'ed25519', privateKey, publicKey }
}

async function start (c: Extract<Command, { cmd: 'start' }>): Promise<void> {
  const node = await createNode({
    repo: c.repo,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    bootstrap: c.bootstrap,
    uploadLimit: c.uploadLimit,
    bootstrapRequired: false,
    trading: c.trading,
    superSeed: c.superSeed
  })
  if (!c.pex) await node.pex?.stop()
  if (c.doc !== undefined) await node.collections.join(c.doc)
  node.collections.on(e => {
    if (process.env.DEBUG_PROPAGATION !== undefined && !(e.type === 'rejected')) console.error(c.idx, e.type, 'id' in e ? e.id : '', e.type === 'accepted' ? `${e.announcement.id} ${e.via}` : '', e.type === 'failed' ? e.error?.message : '')
    if (e.type === 'accepted') {
      if (c.flooder !== undefined && e.announcement.publisher === c.flooder) floodAccepted.set(c.idx, (floodAccepted.get(c.idx) ?? 0) + 1)
      else send({ type: 'accepted', idx: c.idx, id: e.announcement.id, via: e.via, at: Date.now() })
    } else if (e.type === 'rejected') {
      floodRejected[e.code] = (floodRejected[e.code] ?? 0) + 1
    } else if (e.type === 'synced' && e.id !== undefined && !e.id.startsWith('spam-')) {
      send({ type: 'synced', idx: c.idx, id: e.id, at: Date.now() })
    }
  })
  nodes.set(c.idx, node)
  send({ type: 'started', idx: c.idx, addrs: node.addrs(), at: Date.now() })
}

/** Raw signed announcements published straight to gossipsub, as a misbehaving member would (its own node's share path would stop it at the quota). */
async function flood (c: Extract<Command, { cmd: 'flood' }>): Promise<void> {
  const node = nodes.get(c.idx)!
  const signer = key(c.keyPem)
  const topic = collectionTopic(parseGovernance(c.doc))
  const tiny = join(c.dir, 'flood-item.txt')
  writeFileSync(tiny, 'buy cheap stuff now\n')
  const { cid, size } = await node.add(tiny)
  const pubsub = (node.libp2p.services as { pubsub: { publish: (topic: string, data: Uint8Array) => Promise<unknown> } }).pubsub
  flooding = true
  const t0 = performance.now()
  let sent = 0
  while (flooding && sent < c.max) {
    const now = Date.now()
    const bytes = signAnnouncement({
      collection: topic,
      publisher: signer.publicKey,
      seq: 1,
      id: `spam-${sent}`,
      kind: 'share',
      resource: { root: cid, size, title: `Spam ${sent}`, purpose: 'notice', tags: [], lang: null, license: null },
      target: null,
      created: now,
      expires: now + 3600_000
    }, signer).bytes
    await pubsub.publish(topic, bytes).catch(err => { if (process.env.DEBUG_PROPAGATION !== undefined) console.error('flood publish', (err as Error).message) })
    sent++
    if (c.perMinute > 0) {
      const due = t0 + sent * 60_000 / c.perMinute
      const wait = due - performance.now()
      if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    } else {
      await new Promise(resolve => setImmediate(resolve))
    }
  }
  flooding = false
  send({ type: 'flooded', idx: c.idx, sent, seconds: (performance.now() - t0) / 1000 })
}

async function handle (c: Command): Promise<void> {
  switch (c.cmd) {
    case 'start': await start(c); break
    case 'stop': {
      const node = nodes.get(c.idx)
      nodes.delete(c.idx)
      await node?.stop()
      send({ type: 'stopped', idx: c.idx, at: Date.now() })
      break
    }
    case 'status': {
      const node = nodes.get(c.idx)!
      const topic = node.collections.list()[0]!.topic
      const mesh = (node.libp2p.services as { pubsub: { getMeshPeers: (topic: string) => string[] } }).pubsub.getMeshPeers(topic).length
      send({ type: 'status', idx: c.idx, peers: node.libp2p.getPeers().length, mesh })
      break
    }
    case 'sent': {
      // what the node uploaded so far (its ledger: blocks, bitswap and deltas)
      send({ type: 'sent', idx: c.idx, bytes: nodes.get(c.idx)!.stats().reduce((a, r) => a + r.sent, 0) })
      break
    }
    case 'share': {
      const node = nodes.get(c.idx)!
      const startedAt = Date.now()
      const r = await node.collections.share(c.path, { collection: COLLECTION_NAME, key: key(c.keyPem), id: c.id, title: `Propagation ${c.id}`, purpose: c.purpose })
      send({ type: 'shared', idx: c.idx, id: c.id, root: r.root!, size: r.size!, startedAt, at: Date.now() })
      break
    }
    case 'flood': void flood(c).catch(err => { send({ type: 'error', idx: c.idx, cmd: 'flood', message: (err as Error).message }) }); break
    case 'flood-stop': flooding = false; break
    case 'counts': send({ type: 'flood-counts', accepted: [...floodAccepted.entries()].flatMap(([i, n]) => [i, n]), rejected: floodRejected }); break
    case 'rss': sampleRss(); send({ type: 'rss', rss: peakRss, anon: peakAnon, file: peakFile, heap: peakHeap, external: peakExternal }); break
    case 'shutdown': await shutdown(); break
  }
}

async function shutdown (): Promise<void> {
  flooding = false
  await Promise.all([...nodes.values()].map(async n => await n.stop().catch(() => {})))
  nodes.clear()
  process.disconnect?.()
  process.exit(0)
}

/** Peak resident memory, and its anonymous and file-backed parts (LMDB's mapped pages are file-backed) where Linux says. */
let peakAnon = 0
let peakFile = 0
/** Peak V8 heap in use, and memory outside it that V8 knows of (buffers, ArrayBuffers): what the anonymous part holds. */
let peakHeap = 0
let peakExternal = 0
function sampleRss (): void {
  const m = process.memoryUsage()
  peakRss = Math.max(peakRss, m.rss)
  peakHeap = Math.max(peakHeap, m.heapUsed)
  peakExternal = Math.max(peakExternal, m.external)
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024
    peakAnon = Math.max(peakAnon, kb('RssAnon'))
    peakFile = Math.max(peakFile, kb('RssFile'))
  } catch {}
}
setInterval(sampleRss, 500).unref()
process.on('message', (c: Command) => {
  void handle(c).catch(err => { send({ type: 'error', idx: 'idx' in c ? c.idx : -1, cmd: c.cmd, message: (err as Error).stack ?? String(err) }) })
})
// the parent died: do not linger holding ports and repos
process.on('disconnect', () => { void shutdown() })
