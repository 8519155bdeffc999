/**
 * Where the bytes of a package update go: the blocks of the new version's DAG that the old version's DAG lacks,
 * by kind, for either format (bench/update-wide.ts prints them).
 *   leaf        raw leaves of files cut into several chunks
 *   whole file  raw leaves that are a whole file (a file of one chunk is its leaf)
 *   file node   cmesh file nodes / UnixFS file nodes (DAG-PB), the per-file overhead of files of several chunks
 *   dir node    cmesh directory nodes and parts / UnixFS directories and HAMT shards
 *   other       symlink nodes, archive nodes
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW } from '../src/dag/constants.js'
import { importPath, type ImportOptions } from '../src/dag/importer.js'
import { decodeNode } from '../src/dag/nodes.js'
import { decodeUnixfs } from '../src/dag/unixfs/index.js'
import { createStore } from '../src/store/index.js'
import type { Blockstore } from '../src/store/interface.js'
import { accountDeltas, type DeltaAccount } from './update-delta.js'

export type BlockKind = 'leaf' | 'wholeFile' | 'fileNode' | 'dirNode' | 'other'
export const BLOCK_KINDS: BlockKind[] = ['leaf', 'wholeFile', 'fileNode', 'dirNode', 'other']

interface Block { kind: BlockKind, bytes: number }

/** Every block of the DAG at `root`, once each, with its kind. */
function dagBlocks (store: Blockstore, root: CID): Map<string, Block> {
  const out = new Map<string, Block>()
  const stack: Array<{ cid: CID, parentIsDir: boolean }> = [{ cid: root, parentIsDir: true }]
  while (stack.length > 0) {
    const { cid, parentIsDir } = stack.pop()!
    const key = cid.toString()
    if (out.has(key)) continue
    const bytes = store.getSync(cid)
    let kind: BlockKind = 'other'
    const children: Array<{ cid: CID, parentIsDir: boolean }> = []
    if (cid.code === CODEC_RAW) {
      kind = parentIsDir ? 'wholeFile' : 'leaf'
    } else if (cid.code === CODEC_DAG_CBOR) {
      const node = decodeNode(cid, bytes)
      if (node.type === 'file') {
        kind = 'fileNode'
        for (const l of node.links) children.push({ cid: l.cid, parentIsDir: false })
      } else if (node.type === 'dir') {
        kind = 'dirNode'
        for (const e of node.entries ?? []) if (e.cid !== undefined) children.push({ cid: e.cid, parentIsDir: true })
        for (const p of node.parts ?? []) children.push({ cid: p.cid, parentIsDir: true })
      }
    } else if (cid.code === CODEC_DAG_PB) {
      const node = decodeUnixfs(cid, bytes)
      if (node.type === 'file') {
        kind = 'fileNode'
        for (const c of node.children) children.push({ cid: c.cid, parentIsDir: false })
      } else if (node.type === 'dir' || node.type === 'hamt') {
        kind = 'dirNode'
        for (const l of node.links) children.push({ cid: l.cid, parentIsDir: true })
      }
    }
    out.set(key, { kind, bytes: bytes.length })
    stack.push(...children)
  }
  return out
}

export interface UpdateAccount {
  /** Content bytes of the new version. */
  newSize: number
  /** Bytes of the new version's blocks the old version's DAG lacks (the importer's newBytes). */
  newBytes: number
  /** newBytes by block kind. */
  bytes: Record<BlockKind, number>
  /** Blocks among newBytes, by kind. */
  blocks: Record<BlockKind, number>
  /** Unique blocks of the new version's DAG. */
  totalBlocks: number
  /** The same update with block deltas against the old version's blocks at the same places (bench/update-delta.ts). */
  delta: DeltaAccount
}

/** Import `oldDir` then `newDir` into a fresh store (removed after) and account the blocks the second one added. */
export async function accountUpdate (oldDir: string, newDir: string, options: Pick<ImportOptions, 'format' | 'chunker' | 'fileFanout'> = {}): Promise<UpdateAccount> {
  const repo = mkdtempSync(join(tmpdir(), 'cmesh-bench-account-'))
  const store = createStore({ repo })
  try {
    const a = await importPath(store, oldDir, options)
    const b = await importPath(store, newDir, options)
    const before = dagBlocks(store, a.cid)
    const after = dagBlocks(store, b.cid)
    const zero = (): Record<BlockKind, number> => ({ leaf: 0, wholeFile: 0, fileNode: 0, dirNode: 0, other: 0 })
    const bytes = zero()
    const blocks = zero()
    let sum = 0
    for (const [key, block] of after) {
      if (before.has(key)) continue
      bytes[block.kind] += block.bytes
      blocks[block.kind]++
      sum += block.bytes
    }
    if (sum !== b.newBytes) throw new Error(`accounted ${sum} new bytes, the importer reported ${b.newBytes}`)
    const delta = accountDeltas(store, a.cid, b.cid, new Set(before.keys()))
    return { newSize: b.size, newBytes: b.newBytes, bytes, blocks, totalBlocks: b.blocks, delta }
  } finally {
    await store.close()
    rmSync(repo, { recursive: true, force: true })
  }
}
