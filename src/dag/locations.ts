import type { CID } from 'multiformats/cid'
import { AbortError, NotInDagError } from '../errors.js'
import type { Blockstore } from '../store/interface.js'
import { cidKey } from './cid.js'
import { CODEC_DAG_CBOR, CODEC_RAW } from './constants.js'
import { decodeNode } from './nodes.js'
import { getVerified } from './verify.js'

/** Where a leaf chunk's bytes sit in the release's original files. */
export interface ChunkLocation {
  /** File path relative to the root, '/'-joined entry names ('' or `name` when the root is a file). */
  path: string
  /** Byte offset of the chunk within that file. */
  offset: number
  /** Bytes in the chunk. */
  length: number
}

export interface ChunkLocationOptions {
  /** Path given to a file root's chunks: its file name on a mirror. @default '' (the mirror URL is the file) */
  name?: string
  signal?: AbortSignal
}

export interface LocationTotals {
  /** Distinct file paths holding at least one chunk. */
  files: number
  chunks: number
  /** Sum of the chunks' lengths. */
  bytes: number
}

type LocationStore = Pick<Blockstore, 'getSync'>

/**
 * Map every leaf chunk of the DAG under `root` (by `cidKey`) to its file path and byte offset, reading only
 * interior nodes (verified); leaves need not be in the store. Dir parts and nested file nodes are followed,
 * a one-chunk file is its leaf at offset 0, symlinks are skipped, and a leaf found in several places keeps
 * its first (content addressing makes any copy right). An archive stored member by member has none: its chunks lie
 * at no byte offset of the archive file, so they come from peers. Interior nodes come with the release manifest, so a
 * missing one is an error, not a gap: ERR_BLOCK_NOT_FOUND names it. A root that is itself a raw chunk must be
 * held, since only the chunk knows its length.
 */
export async function chunkLocations (store: LocationStore, root: CID, options: ChunkLocationOptions = {}): Promise<Map<string, ChunkLocation>> {
  const out = new Map<string, ChunkLocation>()
  // an interior node seen once has had all its leaves recorded: shared subtrees are walked once
  const visited = new Set<string>()
  const signal = options.signal

  const leaf = (cid: CID, path: string, offset: number, length: number): void => {
    const key = cidKey(cid)
    if (!out.has(key)) out.set(key, { path, offset, length })
  }

  const first = (cid: CID): boolean => {
    const key = cidKey(cid)
    if (visited.has(key)) return false
    visited.add(key)
    return true
  }

  const file = async (cid: CID, path: string, base: number, size: number): Promise<void> => {
    if (signal?.aborted === true) throw new AbortError()
    if (cid.code === CODEC_RAW) return leaf(cid, path, base, size)
    if (cid.code !== CODEC_DAG_CBOR) throw new NotInDagError(`${cid} is not a cmesh file (codec 0x${cid.code.toString(16)})`)
    if (!first(cid)) return
    const node = decodeNode(cid, await getVerified(store, cid))
    if (node.type === 'archive') return // its chunks are of the uncompressed stream, at no offset of the file a mirror serves
    if (node.type !== 'file') throw new NotInDagError(`${cid} is a directory inside a file`)
    let pos = base
    for (const link of node.links) {
      await file(link.cid, path, pos, link.size)
      pos += link.size
    }
  }

  const dir = async (cid: CID, path: string): Promise<void> => {
    if (signal?.aborted === true) throw new AbortError()
    if (cid.code !== CODEC_DAG_CBOR) throw new NotInDagError(`${cid} is not a cmesh directory (codec 0x${cid.code.toString(16)})`)
    if (!first(cid)) return
    const node = decodeNode(cid, await getVerified(store, cid))
    if (node.type !== 'dir') throw new NotInDagError(`${cid} is a file where a directory was expected`)
    // a part is a slice of the same directory: its entries live at the same path
    for (const part of node.parts ?? []) await dir(part.cid, path)
    for (const e of node.entries ?? []) {
      const child = path === '' ? e.name : `${path}/${e.name}`
      if (e.kind === 'file') await file(e.cid!, child, 0, e.size)
      else if (e.kind === 'dir') await dir(e.cid!, child)
    }
  }

  if (root.code === CODEC_DAG_CBOR) {
    const node = decodeNode(root, await getVerified(store, root))
    if (node.type === 'dir') await dir(root, '')
    else await file(root, options.name ?? '', 0, node.size)
  } else if (root.code === CODEC_RAW) {
    // a one-chunk file root has no node above it to give its length: the leaf itself must be held
    leaf(root, options.name ?? '', 0, (await getVerified(store, root)).length)
  } else {
    throw new NotInDagError(`${root} is not a cmesh file or directory (codec 0x${root.code.toString(16)})`)
  }
  return out
}

/** Files, chunks and bytes a location map covers (what a mirror would serve of a release). */
export function locationTotals (locations: Map<string, ChunkLocation>): LocationTotals {
  const paths = new Set<string>()
  let bytes = 0
  for (const l of locations.values()) {
    paths.add(l.path)
    bytes += l.length
  }
  return { files: paths.size, chunks: locations.size, bytes }
}
