/**
 * Child of bench/routing.ts: hosts several nodes and obeys the parent over IPC. Each node has its own repo and
 * listens on this process's loopback address (its outbound connections leave from it too, bench/source-address.ts).
 *
 * A node is, by default, a light one: what content routing needs and nothing else. A libp2p host with cmesh's
 * transport, encryption and muxer (TCP, TLS or noise, yamux), identify and its push, ping, and the community DHT
 * (`/cmesh/kad/1.0.0`, a server, no address mapped away, as src/node/host.ts configures it); an LMDB store with
 * the block service (so that the "ask every connected peer" comparison is answered as a cmesh node answers it);
 * and cmesh's ContentRouting, which provides each root added and runs each lookup. Switched off against a full
 * node (createNode): gossipsub (and the collections and URL cache that ride on it), bitswap, peer exchange, mDNS,
 * libp2p's connection monitor (a ping every 15 s on every connection), circuit relay,
 * AutoNAT and DCUtR, analytics, the peer memory, the redialer and reachability checks, the release exchange and
 * the policy watch. `full: true` starts full nodes (createNode, dht: 'server') as before.
 *
 * The DHT's provide and findProviders of every node are wrapped to count their query events: a SEND_QUERY is one
 * DHT request sent to one peer on a stream of its own (FIND_NODE and GET_PROVIDERS while walking, ADD_PROVIDER
 * to the closest peers); each is answered by a PEER_RESPONSE or ends in a QUERY_ERROR. The calls themselves are
 * cmesh's: a root is provided through src/sync/routing's ContentRouting (node.add on a full node), and a lookup is
 * its connectProviders.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify, identifyPush } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { importPath } from '../src/dag/importer.js'
import { createNode } from '../src/node/index.js'
import { createStore } from '../src/store/index.js'
import { BlockService } from '../src/sync/exchange/block-service.js'
import { askHaves } from '../src/sync/exchange/peer-requests.js'
import { ContentRouting, DHT_PROTOCOL, routingKey } from '../src/sync/routing/index.js'
import { exitWithParent } from './children.js'
import { bindOutbound } from './source-address.js'

export type RoutingCommand =
  | { cmd: 'setup', idx: number, ip: string }
  | { cmd: 'start', idx: number, repo: string, bootstrap: string[], full: boolean }
  | { cmd: 'refresh', idx: number }
  | { cmd: 'status', idx: number }
  | { cmd: 'add', idx: number, path: string }
  | { cmd: 'find', idx: number, cid: string, timeoutMs: number }
  | { cmd: 'ask', idx: number, cid: string, timeoutMs: number }
  | { cmd: 'stop', idx: number }
  | { cmd: 'shutdown' }

/** One DHT operation's events: SEND_QUERY, PEER_RESPONSE and QUERY_ERROR counts, times in ms from its start. */
export interface Trace { sends: number, responses: number, errors: number, ms: number }

export type RoutingReply =
  | { type: 'ready', idx: number }
  | { type: 'started', idx: number, addrs: string[], peerId: string }
  | { type: 'refreshed', idx: number }
  | { type: 'status', idx: number, routingTable: number, connections: number, rss: number }
  | { type: 'added', idx: number, cid: string, provided: boolean, provide: Trace | null }
  | {
    type: 'found',
    idx: number,
    providers: string[],
    /** ms from the call to the first provider other than the finder; null when none was found */
    firstMs: number | null,
    /** SEND_QUERY events before the first provider */
    sendsToFirst: number | null,
    /** the whole lookup, as cmesh's connectProviders runs it (ms: until it returned) */
    lookup: Trace
  }
  | { type: 'asked', idx: number, asked: number, found: boolean, firstMs: number | null, allMs: number }
  | { type: 'stopped', idx: number }
  | { type: 'error', idx: number, cmd: string, message: string }

interface DhtLike {
  routingTable: { size: number }
  refreshRoutingTable: () => Promise<void>
  provide: (key: CID, options?: unknown) => AsyncIterable<DhtEvent>
  findProviders: (key: CID, options?: unknown) => AsyncIterable<DhtEvent>
}
interface DhtEvent { name: string, providers?: Array<{ id: PeerId }> }

interface LiveTrace extends Trace {
  key: string
  start: number
  firstAt?: number
  sendsToFirst?: number
  done: Promise<void>
}

interface Hosted {
  libp2p: Libp2p
  /** Import the file at `path`, pin it and provide its root (through `routing`). */
  add: (path: string) => Promise<CID>
  stop: () => Promise<void>
  routing: ContentRouting
  dht: DhtLike
  provides: Map<string, LiveTrace>
  finds: LiveTrace[]
}

const nodes = new Map<number, Hosted>()
let work = ''

function send (r: RoutingReply): void {
  if (process.connected) process.send?.(r)
}

const dhtOf = (libp2p: Libp2p): DhtLike => (libp2p.services as { dht: DhtLike }).dht

/**
 * Wrap `dht`'s provide and findProviders so each call leaves a trace of its events (the calls are unchanged). The
 * events are counted as kad-dht emits them (its onProgress option), not as the caller pulls them, so a lookup that
 * cmesh stops early is counted up to the moment it stopped.
 */
function instrument (dht: DhtLike, self: PeerId, provides: Map<string, LiveTrace>, finds: LiveTrace[]): void {
  const wrap = (op: 'provide' | 'findProviders', record: (t: LiveTrace) => void): void => {
    const original = dht[op].bind(dht)
    dht[op] = (key: CID, options?: unknown) => {
      let end = (): void => {}
      const done = new Promise<void>(resolve => { end = resolve })
      const t: LiveTrace = { key: key.toString(), start: performance.now(), sends: 0, responses: 0, errors: 0, ms: 0, done }
      record(t)
      const caller = (options as { onProgress?: (evt: unknown) => void } | undefined)?.onProgress
      const onProgress = (evt: CustomEvent<DhtEvent | undefined>): void => {
        caller?.(evt)
        // dials report their progress on the same hook, with no query event
        const e = evt.type.startsWith('kad-dht:query:') ? evt.detail : undefined
        if (e === undefined || e === null) return
        if (e.name === 'SEND_QUERY') t.sends++
        else if (e.name === 'PEER_RESPONSE') t.responses++
        else if (e.name === 'QUERY_ERROR') t.errors++
        else if (e.name === 'PROVIDER' && t.firstAt === undefined && e.providers?.some(p => !p.id.equals(self)) === true) {
          t.firstAt = performance.now()
          t.sendsToFirst = t.sends
        }
      }
      return (async function * () {
        try {
          yield * original(key, { ...(options as object), onProgress })
        } finally {
          t.ms = performance.now() - t.start
          end()
        }
      })()
    }
  }
  wrap('provide', t => { provides.set(t.key, t) })
  wrap('findProviders', t => { finds.push(t) })
}

const plain = (t: LiveTrace): Trace => ({ sends: t.sends, responses: t.responses, errors: t.errors, ms: t.ms })

async function waitUntil<T> (get: () => T | undefined, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = get()
    if (v !== undefined || Date.now() > deadline) return v
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Attempts at a bootstrap address of a light node, a pause of this many times 250 ms before the n-th retry. */
const DIAL_ATTEMPTS = 5

/** The traces of a node's DHT, wrapped (see instrument). */
function traced (libp2p: Libp2p): Pick<Hosted, 'dht' | 'provides' | 'finds'> {
  const dht = dhtOf(libp2p)
  const provides = new Map<string, LiveTrace>()
  const finds: LiveTrace[] = []
  instrument(dht, libp2p.peerId, provides, finds)
  return { dht, provides, finds }
}

/** A full cmesh node (createNode, the DHT as a server; mDNS and peer exchange off). */
async function startFull (repo: string, bootstrap: string[]): Promise<Hosted> {
  const node = await createNode({ repo, listen: [`/ip4/${work}/tcp/0`], mdns: false, peerExchange: false, dht: 'server', bootstrap, bootstrapRequired: false })
  return {
    libp2p: node.libp2p,
    add: async path => (await node.add(path)).cid,
    stop: async () => { await node.stop() },
    routing: new ContentRouting({ libp2p: node.libp2p }),
    ...traced(node.libp2p)
  }
}

/** A light node: only what content routing needs (see the top of this file). */
async function startLight (repo: string, bootstrap: string[]): Promise<Hosted> {
  const store = createStore({ repo })
  const libp2p = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: [`/ip4/${work}/tcp/0`] },
    transports: [tcp()],
    connectionEncrypters: [tls(), noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping(), // kad-dht pings the old contacts of a full bucket
      dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper })
    }
  })
  const blocks = new BlockService({ libp2p, store })
  await blocks.start()
  const routing = new ContentRouting({ libp2p })
  routing.start()
  const trace = traced(libp2p)
  await Promise.all(bootstrap.map(async a => {
    for (let attempt = 1; attempt <= DIAL_ATTEMPTS; attempt++) {
      try {
        await libp2p.dial(multiaddr(a))
        return
      } catch {
        await new Promise(resolve => setTimeout(resolve, 250 * attempt))
      }
    }
  }))
  return {
    libp2p,
    add: async path => {
      const { cid } = await importPath(store, path, { pin: true })
      void routing.provide(cid)
      return cid
    },
    stop: async () => {
      routing.stop()
      await blocks.stop()
      await libp2p.stop()
      await store.close()
    },
    routing,
    ...trace
  }
}

async function run (c: RoutingCommand): Promise<void> {
  switch (c.cmd) {
    case 'setup':
      bindOutbound(c.ip)
      work = c.ip
      send({ type: 'ready', idx: c.idx })
      return
    case 'start': {
      const h = c.full ? await startFull(c.repo, c.bootstrap) : await startLight(c.repo, c.bootstrap)
      nodes.set(c.idx, h)
      send({ type: 'started', idx: c.idx, addrs: h.libp2p.getMultiaddrs().map(String), peerId: h.libp2p.peerId.toString() })
      return
    }
    case 'refresh':
      await nodes.get(c.idx)!.dht.refreshRoutingTable()
      send({ type: 'refreshed', idx: c.idx })
      return
    case 'status': {
      const h = nodes.get(c.idx)!
      send({ type: 'status', idx: c.idx, routingTable: h.dht.routingTable.size, connections: h.libp2p.getConnections().length, rss: process.memoryUsage().rss })
      return
    }
    case 'add': {
      // a new pinned root, provided through cmesh's content routing
      const h = nodes.get(c.idx)!
      const cid = await h.add(c.path)
      const key = routingKey(cid).toString()
      const t = await waitUntil(() => h.provides.get(key), 10_000)
      if (t !== undefined) await t.done
      send({ type: 'added', idx: c.idx, cid: cid.toString(), provided: t !== undefined && t.responses > 0, provide: t === undefined ? null : plain(t) })
      return
    }
    case 'find': {
      const h = nodes.get(c.idx)!
      const before = h.finds.length
      const t0 = performance.now()
      const found = await h.routing.connectProviders(CID.parse(c.cid), AbortSignal.timeout(c.timeoutMs))
      const ms = performance.now() - t0
      const t = h.finds[before]
      if (t === undefined) throw new Error('connectProviders did not ask the DHT')
      // what the lookup cost until cmesh stopped it (a query still unwinding sends nothing more)
      send({
        type: 'found',
        idx: c.idx,
        providers: found.map(String),
        firstMs: t.firstAt === undefined ? null : t.firstAt - t.start,
        sendsToFirst: t.sendsToFirst ?? null,
        lookup: { sends: t.sends, responses: t.responses, errors: t.errors, ms }
      })
      return
    }
    case 'ask': {
      // what cmesh does without the DHT: ask every connected peer whether it holds the root
      const h = nodes.get(c.idx)!
      const cid = CID.parse(c.cid)
      const peers = h.libp2p.getPeers()
      const t0 = performance.now()
      let firstMs: number | null = null
      const signal = AbortSignal.timeout(c.timeoutMs)
      await Promise.all(peers.map(async p => {
        const have = await askHaves(h.libp2p, p, [cid], signal).catch(() => [])
        if (have.length > 0 && firstMs === null) firstMs = performance.now() - t0
      }))
      send({ type: 'asked', idx: c.idx, asked: peers.length, found: firstMs !== null, firstMs, allMs: performance.now() - t0 })
      return
    }
    case 'stop':
      await nodes.get(c.idx)?.stop().catch(() => {})
      nodes.delete(c.idx)
      send({ type: 'stopped', idx: c.idx })
      return
    case 'shutdown':
      await stopAll()
      process.exit(0)
  }
}

async function stopAll (): Promise<void> {
  await Promise.all([...nodes.values()].map(async h => await h.stop().catch(() => {})))
  nodes.clear()
}

process.on('message', (c: RoutingCommand) => {
  run(c).catch((err: Error) => send({ type: 'error', idx: 'idx' in c ? c.idx : -1, cmd: c.cmd, message: err.message }))
})
exitWithParent(stopAll)
