import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type CmeshNode } from '../../src/node/index.js'
import { installFaults, type Faults } from './faulty-peer.js'

/** How a simulated node behaves. */
export type Behaviour = 'honest' | 'slow' | 'flaky' | 'lying' | 'corrupt' | 'leaving'

export interface SimNodeSpec {
  behaviour?: Behaviour
  /** Upload limit in bytes a second ('slow' defaults to 100 kB/s). */
  uploadLimit?: number
  /** Added delay before each answer, in ms. */
  latencyMs?: number
  /** Files or directories the node adds before the others start. */
  content?: string[]
  /** For 'leaving': stop this many ms after leave() is called. @default 200 */
  leaveAfterMs?: number
  /** Ask peers what they hold and fetch the rarest first. @default false */
  rarestFirst?: boolean
}

export interface Neighbourhood {
  nodes: CmeshNode[]
  /** Start the 'leaving' nodes' countdowns (call when a download starts). */
  leave: () => void
  stop: () => Promise<void>
}

/** The faults a spec calls for, or undefined for a node that keeps the real block server (honest, slow, leaving). */
function faults (spec: SimNodeSpec, uploadLimit: number | undefined): Faults | undefined {
  const f: Faults = {
    latencyMs: spec.latencyMs,
    corrupt: spec.behaviour === 'corrupt',
    lieAboutHaves: spec.behaviour === 'lying',
    disconnectEvery: spec.behaviour === 'flaky' ? 3 : undefined
  }
  if (f.latencyMs === undefined && !f.corrupt && !f.lieAboutHaves && f.disconnectEvery === undefined) return undefined
  return { ...f, uploadLimit }
}

/**
 * The simulation harness: real nodes in this process on loopback (real LMDB stores in a temp dir, real libp2p),
 * each with its own upload limit, added latency and behaviour, all bootstrapped to the first. Nodes with added
 * latency, and flaky, lying and corrupt ones, answer block requests through a faulty peer (./faulty-peer.ts);
 * the others keep the real block server. `stop()` stops every node and removes the temp dir.
 */
export async function startNeighbourhood (specs: SimNodeSpec[]): Promise<Neighbourhood> {
  const dir = await mkdtemp(join(tmpdir(), 'cmesh-sim-'))
  const nodes: CmeshNode[] = []
  const stopped = new Set<CmeshNode>()
  const stopOne = async (n: CmeshNode): Promise<void> => {
    if (stopped.has(n)) return
    stopped.add(n)
    await n.stop()
  }
  try {
    for (const [i, spec] of specs.entries()) {
      const uploadLimit = spec.uploadLimit ?? (spec.behaviour === 'slow' ? 100_000 : undefined)
      const node = await createNode({
        repo: join(dir, `node-${i}`),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        bootstrap: nodes.length === 0 ? [] : [nodes[0]!.addrs()[0]!],
        uploadLimit,
        rarestFirst: spec.rarestFirst
      })
      nodes.push(node)
      const f = faults(spec, uploadLimit)
      if (f !== undefined) await installFaults(node, f)
      for (const path of spec.content ?? []) await node.add(path)
    }
  } catch (err) {
    for (const n of nodes) await stopOne(n).catch(() => {})
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  return {
    nodes,
    leave: () => {
      specs.forEach((spec, i) => {
        if (spec.behaviour === 'leaving') setTimeout(() => { void stopOne(nodes[i]!).catch(() => {}) }, spec.leaveAfterMs ?? 200)
      })
    },
    stop: async () => {
      for (const n of nodes) await stopOne(n).catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  }
}
