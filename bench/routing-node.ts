/**
 * Child of bench/routing.ts: hosts several cmesh nodes (createNode with the DHT as a server, `/cmesh/kad/1.0.0`)
 * and obeys the parent over IPC. Each node has its own repo and listens on this process's loopback address (its
 * outbound connections leave from it too, bench/source-address.ts), mDNS and peer exchange off.
 *
 * The DHT's provide and findProviders of every node are wrapped to count their query events: a SEND_QUERY is one
 * DHT request sent to one peer on a stream of its own (FIND_NODE and GET_PROVIDERS while walking, ADD_PROVIDER
 * to the closest peers); each is answered by a PEER_RESPONSE or ends in a QUERY_ERROR. The calls themselves are
 * cmesh's: node.add provides through src/sync/routing's ContentRouting, and a lookup is its connectProviders.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { createNode, type CmeshNode } from '../src/node/index.js'
import { askHaves } from '../src/sync/exchange/peer-requests.js'
import { ContentRouting, routingKey } from '../src/sync/routing/index.js'
import { exitWithParent } from './children.js'
import { bindOutbound } from './source-address.js'

export type RoutingCommand =
  | { cmd: 'setup', idx: number, ip: string }
  | { cmd: 'start', idx: number, repo: string, bootstrap: string[] }
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
  node: CmeshNode
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

async function run (c: RoutingCommand): Promise<void> {
  switch (c.cmd) {
    case 'setup':
      bindOutbound(c.ip)
      work = c.ip
      send({ type: 'ready', idx: c.idx })
      return
    case 'start': {
      const node = await createNode({
        repo: c.repo,
        listen: [`/ip4/${work}/tcp/0`],
        mdns: false,
        peerExchange: false,
        dht: 'server',
        bootstrap: c.bootstrap,
        bootstrapRequired: false
      })
      const dht = dhtOf(node.libp2p)
      const provides = new Map<string, LiveTrace>()
      const finds: LiveTrace[] = []
      instrument(dht, node.peerId, provides, finds)
      nodes.set(c.idx, { node, routing: new ContentRouting({ libp2p: node.libp2p }), dht, provides, finds })
      send({ type: 'started', idx: c.idx, addrs: node.addrs(), peerId: node.peerId.toString() })
      return
    }
    case 'refresh':
      await nodes.get(c.idx)!.dht.refreshRoutingTable()
      send({ type: 'refreshed', idx: c.idx })
      return
    case 'status': {
      const h = nodes.get(c.idx)!
      send({ type: 'status', idx: c.idx, routingTable: h.dht.routingTable.size, connections: h.node.libp2p.getConnections().length, rss: process.memoryUsage().rss })
      return
    }
    case 'add': {
      // a new pinned root: node.add provides it through cmesh's content routing, as any pin
      const h = nodes.get(c.idx)!
      const r = await h.node.add(c.path)
      const key = routingKey(r.cid).toString()
      const t = await waitUntil(() => h.provides.get(key), 10_000)
      if (t !== undefined) await t.done
      send({ type: 'added', idx: c.idx, cid: r.cid.toString(), provided: t !== undefined && t.responses > 0, provide: t === undefined ? null : plain(t) })
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
      const peers = h.node.libp2p.getPeers()
      const t0 = performance.now()
      let firstMs: number | null = null
      const signal = AbortSignal.timeout(c.timeoutMs)
      await Promise.all(peers.map(async p => {
        const have = await askHaves(h.node.libp2p, p, [cid], signal).catch(() => [])
        if (have.length > 0 && firstMs === null) firstMs = performance.now() - t0
      }))
      send({ type: 'asked', idx: c.idx, asked: peers.length, found: firstMs !== null, firstMs, allMs: performance.now() - t0 })
      return
    }
    case 'stop':
      await nodes.get(c.idx)?.node.stop().catch(() => {})
      nodes.delete(c.idx)
      send({ type: 'stopped', idx: c.idx })
      return
    case 'shutdown':
      await stopAll()
      process.exit(0)
  }
}

async function stopAll (): Promise<void> {
  await Promise.all([...nodes.values()].map(async h => await h.node.stop().catch(() => {})))
  nodes.clear()
}

process.on('message', (c: RoutingCommand) => {
  run(c).catch((err: Error) => send({ type: 'error', idx: 'idx' in c ? c.idx : -1, cmd: c.cmd, message: err.message }))
})
exitWithParent(stopAll)
