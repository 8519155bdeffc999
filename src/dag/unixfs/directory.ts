import type { CID } from 'multiformats/cid'
import { AbortError, InvalidNodeError, NotInDagError } from '../../errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW } from '../constants.js'
import { decodeNode, type DirEntry } from '../nodes.js'
import { getVerified } from '../verify.js'
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, MAX_HAMT_DEPTH } from './constants.js'
import type { ReadStore } from './file.js'
import { HamtBits } from './hamt.js'
import { decodeUnixfs, labelLength, type HamtLink, type UnixfsLink, type UnixfsNode } from './node.js'

/** A directory node read and checked: a plain UnixFS directory or the root shard of a HAMT. */
export async function readUnixfsDir (store: ReadStore, cid: CID): Promise<Extract<UnixfsNode, { type: 'dir' | 'hamt' }>> {
  const node = decodeUnixfs(cid, await getVerified(store, cid))
  if (node.type === 'dir' || node.type === 'hamt') return node
  throw new NotInDagError(`${cid} is a ${node.type === 'file' ? 'file' : 'symlink'}, not a directory`)
}

/**
 * The entries of a UnixFS directory: a plain one in its links' (name) order, a HAMT-sharded one shard by shard
 * (in hash order, as stored; nothing is buffered to sort it). A link does not say what it points to, so each
 * entry's root block is read (and verified) for its kind, size, mode and symlink target. A file's size is its
 * content; a directory's is the cumulative block bytes its parent records (UnixFS keeps no total of its files).
 */
export async function * unixfsEntries (store: ReadStore, cid: CID, signal?: AbortSignal): AsyncGenerator<DirEntry> {
  const node = await readUnixfsDir(store, cid)
  const links = node.type === 'dir' ? node.links : hamtEntries(store, cid, node, 0, signal)
  for await (const link of links) {
    if (signal?.aborted === true) throw new AbortError()
    yield await entryOf(store, link)
  }
}

async function * hamtEntries (store: ReadStore, cid: CID, node: Extract<UnixfsNode, { type: 'hamt' }>, depth: number, signal?: AbortSignal): AsyncGenerator<UnixfsLink> {
  for (const link of node.links) {
    if (link.name !== undefined) {
      yield { name: link.name, cid: link.cid, tsize: link.tsize }
      continue
    }
    if (signal?.aborted === true) throw new AbortError()
    yield * hamtEntries(store, link.cid, await readShard(store, link.cid, cid, depth + 1), depth + 1, signal)
  }
}

async function readShard (store: ReadStore, cid: CID, parent: CID, depth: number): Promise<Extract<UnixfsNode, { type: 'hamt' }>> {
  if (depth > MAX_HAMT_DEPTH) throw new InvalidNodeError(parent.toString(), `HAMT deeper than ${MAX_HAMT_DEPTH} levels`)
  if (cid.code !== CODEC_DAG_PB) throw new InvalidNodeError(parent.toString(), `HAMT shard ${cid} is not DAG-PB`)
  const shard = decodeUnixfs(cid, await getVerified(store, cid))
  if (shard.type !== 'hamt') throw new InvalidNodeError(parent.toString(), `HAMT shard ${cid} is a ${shard.type}`)
  return shard
}

/**
 * The entry `name` of a UnixFS directory, or undefined. In a HAMT only the shards on the name's hash path are read,
 * so a lookup in a directory of a million entries reads a few blocks.
 */
export async function unixfsLookup (store: ReadStore, cid: CID, name: string): Promise<DirEntry | undefined> {
  const link = await unixfsLookupLink(store, cid, name)
  return link === undefined ? undefined : await entryOf(store, link)
}

/** The link named `name` in a UnixFS directory (as unixfsLookup), without reading what it points to. */
export async function unixfsLookupLink (store: ReadStore, cid: CID, name: string): Promise<UnixfsLink | undefined> {
  let node = await readUnixfsDir(store, cid)
  if (node.type === 'dir') return node.links.find(l => l.name === name)
  const bits = new HamtBits(name)
  let shardCid = cid
  for (let depth = 0; ; depth++) {
    const index = await bits.take(Math.log2(node.fanout))
    const label = index.toString(16).toUpperCase().padStart(labelLength(node.fanout), '0')
    const link: HamtLink | undefined = node.links.find(l => l.label === label)
    if (link === undefined) return undefined
    if (link.name !== undefined) return link.name === name ? { name, cid: link.cid, tsize: link.tsize } : undefined
    node = await readShard(store, link.cid, shardCid, depth + 1)
    shardCid = link.cid
  }
}

/** What a link points to, from its root block: a raw leaf is a whole file, a cmesh node is read as one. */
async function entryOf (store: ReadStore, link: UnixfsLink): Promise<DirEntry> {
  const { name, cid } = link
  if (cid.code === CODEC_RAW) return { name, kind: 'file', cid, size: link.tsize, mode: DEFAULT_FILE_MODE }
  if (cid.code === CODEC_DAG_CBOR) {
    const node = decodeNode(cid, await getVerified(store, cid))
    // an archive is a file (its members are reached through it, as through any cmesh archive)
    const kind = node.type === 'dir' ? 'dir' : 'file'
    return { name, kind, cid, size: node.size, mode: kind === 'file' ? DEFAULT_FILE_MODE : DEFAULT_DIR_MODE }
  }
  if (cid.code !== CODEC_DAG_PB) throw new NotInDagError(`entry ${JSON.stringify(name)} is neither UnixFS nor cmesh (codec 0x${cid.code.toString(16)})`)
  const node = decodeUnixfs(cid, await getVerified(store, cid))
  switch (node.type) {
    case 'file': return { name, kind: 'file', cid, size: node.size, mode: node.mode }
    case 'symlink': return { name, kind: 'symlink', target: node.target, size: 0, mode: node.mode }
    default: return { name, kind: 'dir', cid, size: link.tsize, mode: node.mode }
  }
}
