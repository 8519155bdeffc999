/**
 * Child of bench/fairness.ts's and bench/crowd.ts's flash crowds: hosts some of the crowd's nodes (seeders or
 * downloaders) in its own process, so the crowd runs on every core and no node's event loop waits on fifty others.
 * Obeys the parent over IPC. Each node has its own repo, listens on its own loopback address, mDNS off.
 * `setup` caps every TCP read of the process (bench/download-throttle.ts) and makes its outbound loopback
 * connections leave from the node's address (bench/source-address.ts), so it is for a process that hosts one node
 * at a time, always on the same address; a `freeRider` answers every want with dont-have (it downloads and never uploads). `stop` ends one
 * node and keeps the process for the next.
 */
import type { Stream } from '@libp2p/interface'
import { createNode, type CmeshNode } from '../src/node/index.js'
import { CID } from 'multiformats/cid'
import { BLOCKS_PROTOCOLS, MAX_MESSAGE_BYTES } from '../src/sync/exchange/constants.js'
import { readFrames, sendFrame } from '../src/sync/exchange/framing.js'
import { decodeMessage, encodeMessage } from '../src/sync/exchange/wire.js'
import { throttleDownloads } from './download-throttle.js'
import { bindOutbound } from './source-address.js'

export type CrowdCommand =
  | {
    cmd: 'start',
    idx: number,
    repo: string,
    ip: string,
    bootstrap: string[],
    uploadLimit?: number,
    fair: boolean,
    rarestFirst: boolean,
    trading?: boolean,
    superSeed?: boolean,
    freeRider?: boolean,
    waitConnected?: boolean
  }
  | { cmd: 'setup', idx: number, downloadLimit?: number, sourceIp?: string }
  | { cmd: 'stop', idx: number }
  | { cmd: 'add', idx: number, path: string }
  | { cmd: 'fetch', idx: number, cid: string, timeoutMs: number }
  | { cmd: 'sent', idx: number }
  | { cmd: 'usage', idx: number }
  | { cmd: 'shutdown' }

export type CrowdReply =
  | { type: 'started', idx: number, addrs: string[], peerId: string }
  | { type: 'added', idx: number, cid: string }
  | {
    type: 'fetched',
    idx: number,
    ok: boolean,
    at: number,
    error?: string,
    sources?: Record<string,
    number>,
    duplicates?: number,
    stolen?: number,
    wireBytes?: number,
    fetchedBytes?: number
  }
  | { type: 'sent', idx: number, bytes: number }
  | { type: 'usage', idx: number, cpuSeconds: number }
  | { type: 'ready', idx: number }
  | { type: 'stopped', idx: number }
  | { type: 'error', idx: number, cmd: string, message: string }

const nodes = new Map<number, CmeshNode>()

function send (r: CrowdReply): void {
  if (process.connected) process.send?.(r)
}

async function run (c: CrowdCommand): Promise<void> {
  switch (c.cmd) {
    case 'start': {
      const node = await createNode({
        repo: c.repo,
        listen: [
        `/ip4/${c.ip}/tcp/0`],
        mdns: false,
        minPeers: 0,
        bootstrap: c.bootstrap,
        bootstrapRequired: false,
        uploadLimit: c.uploadLimit,
        fair: c.fair,
        rarestFirst: c.rarestFirst,
        trading: c.trading,
        superSeed: c.superSeed
      })
      nodes.set(c.idx, node)
      if (c.freeRider === true) await refuseUploads(node)
      if (c.waitConnected === true) await connect(node, c.bootstrap)
      send({ type: 'started', idx: c.idx, addrs: node.addrs().map(String), peerId: node.peerId.toString() })
      return
    }
    case 'add': {
      const r = await nodes.get(c.idx)!.add(c.path)
      send({ type: 'added', idx: c.idx, cid: r.cid.toString() })
      return
    }
    case 'fetch': {
      try {
        const r = await nodes.get(c.idx)!.fetch(CID.parse(c.cid), { signal: AbortSignal.timeout(c.timeoutMs) })
        send({ type: 'fetched', idx: c.idx, ok: true, at: Date.now(), sources: r.sources, duplicates: r.duplicates, stolen: r.stolen, wireBytes: r.wireBytes, fetchedBytes: r.fetchedBytes })
      } catch (err) {
        send({ type: 'fetched', idx: c.idx, ok: false, at: Date.now(), error: (err as Error).message })
      }
      return
    }
    case 'sent': {
      send({ type: 'sent', idx: c.idx, bytes: nodes.get(c.idx)!.stats().reduce((a, r) => a + r.sent, 0) })
      return
    }
    case 'setup':
      if (c.downloadLimit !== undefined) throttleDownloads(c.downloadLimit)
      if (c.sourceIp !== undefined) bindOutbound(c.sourceIp)
      send({ type: 'ready', idx: c.idx })
      return
    case 'stop':
      await nodes.get(c.idx)?.stop().catch(() => {})
      nodes.delete(c.idx)
      send({ type: 'stopped', idx: c.idx })
      return
    case 'usage': {
      const u = process.cpuUsage()
      send({ type: 'usage', idx: c.idx, cpuSeconds: (u.user + u.system) / 1e6 })
      return
    }
    case 'shutdown':
      await Promise.all([...nodes.values()].map(async n => await n.stop().catch(() => {})))
      process.exit(0)
  }
}

/**
 * Dial `bootstrap` until a connection stands (at most two minutes): fifty nodes starting at once overrun libp2p's ten
 * pending inbound connections at a seeder, and a bench node (minPeers 0) does not redial by itself.
 */
async function connect (node: CmeshNode, bootstrap: string[]): Promise<void> {
  const deadline = Date.now() + 120_000
  while (node.libp2p.getPeers().length === 0) {
    if (Date.now() > deadline) throw new Error(`no bootstrap peer answered in 120 s (${bootstrap.join(', ')})`)
    await Promise.all(bootstrap.map(async a => { await node.dial(a).catch(() => {}) }))
    if (node.libp2p.getPeers().length === 0) await new Promise(resolve => setTimeout(resolve, 250 + Math.random() * 500))
  }
}

/** A free-rider: its block protocol answers every want, of blocks or of haves, with dont-have. */
async function refuseUploads (node: CmeshNode): Promise<void> {
  await node.libp2p.unhandle(BLOCKS_PROTOCOLS)
  await node.libp2p.handle(BLOCKS_PROTOCOLS, async (stream: Stream) => {
    try {
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
        const m = decodeMessage(frame)
        if (m.t === 'want') await sendFrame(stream, encodeMessage({ t: 'dont-have', cids: m.cids }))
      }
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  })
}

process.on('message', (c: CrowdCommand) => {
  run(c).catch((err: Error) => send({ type: 'error', idx: 'idx' in c ? c.idx : -1, cmd: c.cmd, message: err.message }))
})
process.on('disconnect', () => {
  void Promise.all([...nodes.values()].map(async n => await n.stop().catch(() => {}))).then(() => process.exit(0))
})
