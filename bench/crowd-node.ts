/**
 * Child of bench/fairness.ts's flash crowd: hosts some of the crowd's nodes (seeders or downloaders) in its own
 * process, so the crowd runs on every core and no node's event loop waits on fifty others. Obeys the parent over
 * IPC. Each node has its own repo, listens on its own loopback address, mDNS off.
 */
import { createNode, type CmeshNode } from '../src/node/index.js'
import { CID } from 'multiformats/cid'

export type CrowdCommand =
  | { cmd: 'start', idx: number, repo: string, ip: string, bootstrap: string[], uploadLimit?: number, fair: boolean, rarestFirst: boolean }
  | { cmd: 'add', idx: number, path: string }
  | { cmd: 'fetch', idx: number, cid: string, timeoutMs: number }
  | { cmd: 'sent', idx: number }
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
    wireBytes?: number
  }
  | { type: 'sent', idx: number, bytes: number }
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
        rarestFirst: c.rarestFirst
      })
      nodes.set(c.idx, node)
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
        send({ type: 'fetched', idx: c.idx, ok: true, at: Date.now(), sources: r.sources, duplicates: r.duplicates, stolen: r.stolen, wireBytes: r.wireBytes })
      } catch (err) {
        send({ type: 'fetched', idx: c.idx, ok: false, at: Date.now(), error: (err as Error).message })
      }
      return
    }
    case 'sent': {
      send({ type: 'sent', idx: c.idx, bytes: nodes.get(c.idx)!.stats().reduce((a, r) => a + r.sent, 0) })
      return
    }
    case 'shutdown':
      await Promise.all([...nodes.values()].map(async n => await n.stop().catch(() => {})))
      process.exit(0)
  }
}

process.on('message', (c: CrowdCommand) => {
  run(c).catch((err: Error) => send({ type: 'error', idx: 'idx' in c ? c.idx : -1, cmd: c.cmd, message: err.message }))
})
process.on('disconnect', () => {
  void Promise.all([...nodes.values()].map(async n => await n.stop().catch(() => {}))).then(() => process.exit(0))
})
