import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { BlockTooLargeError } from '../../errors.js'
import { MAX_BLOCK_SIZE } from '../constants.js'
import { sortEntries, type DirEntry } from '../nodes.js'
import { DEFAULT_FILE_MODE, HAMT_SHARD_THRESHOLD, HAMT_WRITE_BITS } from './constants.js'
import { writeHamtDirectory } from './hamt-writer.js'

/**
 * Writing UnixFS (specs.ipfs.tech/unixfs) as `ipfs add --cid-version 1 --raw-leaves` shapes it, with cmesh's chunks:
 * raw leaves (the same blocks cmesh's own format stores for the same chunks and hash), DAG-PB file nodes in
 * ipfs-unixfs-importer's balanced layout (groups of `fanout` links folded level by level, a trailing group folded
 * too, a file of one chunk is its raw leaf), DAG-PB directories (HAMT-sharded when large, as Kubo shards), symlink nodes. Modes are written where they
 * differ from UnixFS's defaults (0644 files, 0755 directories), so typical content gets the CIDs IPFS tools give
 * the same blocks. `emit` stores a DAG-PB block and returns its CID.
 */
export type EmitPb = (bytes: Uint8Array) => Promise<CID>

/** A piece of a file: `size` content bytes, `tsize` block bytes below and including it (a DAG-PB link's Tsize). */
export interface UnixfsPiece {
  cid: CID
  size: number
  tsize: number
}

const encoder = new TextEncoder()

function encodePb (data: UnixFS, links: dagPb.PBLink[]): Uint8Array {
  const bytes = dagPb.encode(dagPb.prepare({ Data: data.marshal(), Links: links }))
  if (bytes.length > MAX_BLOCK_SIZE) throw new BlockTooLargeError(bytes.length, MAX_BLOCK_SIZE)
  return bytes
}

async function fileNode (emit: EmitPb, pieces: UnixfsPiece[], mode?: number): Promise<UnixfsPiece> {
  const data = new UnixFS({ type: 'file', mode })
  let size = 0
  let below = 0
  for (const p of pieces) {
    data.addBlockSize(BigInt(p.size))
    size += p.size
    below += p.tsize
  }
  const bytes = encodePb(data, pieces.map(p => ({ Name: '', Tsize: p.tsize, Hash: p.cid })))
  return { cid: await emit(bytes), size, tsize: bytes.length + below }
}

/**
 * Builds a file's DAG-PB tree as leaves stream in, keeping at most `fanout` pieces a level: memory is
 * O(fanout x depth) whatever the file size. The tree is the one ipfs-unixfs-importer's balanced layout makes
 * from the same leaves with maxChildrenPerNode = fanout.
 */
export class UnixfsFileBuilder {
  private readonly levels: UnixfsPiece[][] = [[]]

  constructor (private readonly fanout: number, private readonly emit: EmitPb) {}

  /** Add the next raw leaf (already stored) of `size` bytes. */
  async add (leaf: { cid: CID, size: number }): Promise<void> {
    this.levels[0]!.push({ cid: leaf.cid, size: leaf.size, tsize: leaf.size })
    for (let i = 0; this.levels[i]!.length === this.fanout; i++) {
      const up = await fileNode(this.emit, this.levels[i]!)
      this.levels[i] = []
      if (this.levels[i + 1] === undefined) this.levels[i + 1] = []
      this.levels[i + 1]!.push(up)
    }
  }

  /**
   * The file's root, with `mode` recorded on it when it is not 0644 (a raw leaf then gets a node of its own to carry
   * it). Undefined for a file without bytes and a default mode (the importer stores the empty raw block).
   */
  async finish (mode?: number): Promise<UnixfsPiece | undefined> {
    const withMode = mode !== undefined && (mode & 0o7777) !== DEFAULT_FILE_MODE
    let root: UnixfsPiece | undefined
    for (let i = 0; i < this.levels.length && root === undefined; i++) {
      const level = this.levels[i]!
      if (i === this.levels.length - 1) { // nothing folded above: this level's pieces are all there were
        if (level.length === 1) root = level[0]!
        else if (level.length > 1) return await fileNode(this.emit, level, mode)
        break
      }
      if (level.length > 0) this.levels[i + 1]!.push(await fileNode(this.emit, level))
    }
    if (!withMode) return root
    // a raw leaf has nowhere to keep a mode, and a root node folded on the way was written without one: one node above carries it
    return await fileNode(this.emit, root === undefined ? [] : [root], mode)
  }
}

/**
 * A UnixFS directory of `entries` (each with its `tsize`; symlinks get a node of their own here), with `mode` when
 * it is not 0755: a plain node, entries sorted by the UTF-8 bytes of their names as DAG-PB requires, or, when the
 * links' names and CIDs add up to more than `shardThreshold` bytes, a HAMT-sharded directory of 2^shardBits slots a
 * shard (hamt-writer.ts).
 */
export async function writeUnixfsDirectory (
  emit: EmitPb, entries: DirEntry[], mode?: number, shardThreshold = HAMT_SHARD_THRESHOLD, shardBits = HAMT_WRITE_BITS
): Promise<UnixfsPiece> {
  sortEntries(entries)
  const links: dagPb.PBLink[] = []
  let size = 0
  for (const e of entries) {
    if (e.kind === 'symlink') {
      const bytes = encodePb(new UnixFS({ type: 'symlink', data: encoder.encode(e.target), mode: e.mode }), [])
      links.push({ Name: e.name, Tsize: bytes.length, Hash: await emit(bytes) })
      continue
    }
    links.push({ Name: e.name, Tsize: e.tsize ?? e.size, Hash: e.cid! })
    size += e.size
  }
  let estimate = 0
  for (const l of links) estimate += encoder.encode(l.Name).length + l.Hash.bytes.length
  if (estimate > shardThreshold) {
    const root = await writeHamtDirectory(links.map(l => ({ name: l.Name!, cid: l.Hash, tsize: l.Tsize! })), encodePb, emit, mode, shardBits)
    return { ...root, size }
  }
  const bytes = encodePb(new UnixFS({ type: 'directory', mode }), links)
  const tsize = links.reduce((sum, l) => sum + (l.Tsize ?? 0), bytes.length)
  return { cid: await emit(bytes), size, tsize }
}
