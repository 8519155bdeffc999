import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { InvalidNodeError } from '../../errors.js'
import { checkEntryName, MAX_TARGET_BYTES } from '../nodes.js'
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, MAX_HAMT_FANOUT } from './constants.js'

/**
 * A DAG-PB block read as UnixFS (specs.ipfs.tech/unixfs), checked as strictly as a cmesh node: every name is safe
 * to create as one path component, sizes add up and fit a safe integer, a HAMT's labels match its fanout.
 */

/** A piece of a file below a file node: a raw leaf or another file node, of `size` content bytes. */
export interface UnixfsChild {
  cid: CID
  size: number
}

/** A named link of a directory; `tsize` is the cumulative block bytes below it, as the parent records it. */
export interface UnixfsLink {
  name: string
  cid: CID
  tsize: number
}

/** A link of a HAMT shard: to a shard one level down (`name` absent) or to an entry. */
export interface HamtLink {
  label: string
  name?: string
  cid: CID
  tsize: number
}

export type UnixfsNode =
  | { type: 'file', size: number, data: Uint8Array, children: UnixfsChild[], mode: number }
  | { type: 'dir', links: UnixfsLink[], mode: number }
  | { type: 'hamt', fanout: number, links: HamtLink[], mode: number }
  | { type: 'symlink', target: string, mode: number }

function fail (cid: CID, reason: string): never {
  throw new InvalidNodeError(cid.toString(), reason)
}

function safeSize (cid: CID, n: bigint | number, what: string): number {
  if (typeof n === 'bigint' ? n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER) : !Number.isSafeInteger(n) || n < 0) fail(cid, `${what} out of range`)
  return Number(n)
}

function checkName (cid: CID, name: string, seen: Set<string>): void {
  const bad = checkEntryName(name)
  if (bad !== undefined) fail(cid, `entry ${JSON.stringify(name)}: ${bad}`)
  if (seen.has(name)) fail(cid, `entry ${JSON.stringify(name)} repeated`)
  seen.add(name)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The hex digits of a HAMT label at this fanout: 256 -> 2 ("00".."FF"). */
export function labelLength (fanout: number): number {
  return (fanout - 1).toString(16).length
}

function hamtLinks (cid: CID, fanout: number, links: dagPb.PBLink[]): HamtLink[] {
  const width = labelLength(fanout)
  const labels = new Set<string>()
  const names = new Set<string>()
  return links.map(l => {
    const full = l.Name ?? ''
    const label = full.slice(0, width)
    if (!/^[0-9A-F]+$/.test(label) || label.length !== width || parseInt(label, 16) >= fanout) fail(cid, `HAMT link ${JSON.stringify(full)}: bad label`)
    if (labels.has(label)) fail(cid, `HAMT label ${label} repeated`)
    labels.add(label)
    const tsize = safeSize(cid, l.Tsize ?? 0, 'link size')
    if (full.length === width) return { label, cid: l.Hash, tsize }
    const name = full.slice(width)
    checkName(cid, name, names)
    return { label, name, cid: l.Hash, tsize }
  })
}

function decodePb (cid: CID, bytes: Uint8Array): dagPb.PBNode {
  try {
    return dagPb.decode(bytes)
  } catch (err) {
    fail(cid, `not DAG-PB (${(err as Error).message})`)
  }
}

function unmarshal (pb: dagPb.PBNode): UnixFS | Error {
  if (pb.Data === undefined) return new Error('a DAG-PB node without UnixFS data')
  try {
    return UnixFS.unmarshal(pb.Data)
  } catch (err) {
    return new Error(`not UnixFS data (${(err as Error).message})`)
  }
}

/** Decode and check a DAG-PB block as a UnixFS node (ERR_INVALID_NODE if it is not one, or breaks a rule). */
export function decodeUnixfs (cid: CID, bytes: Uint8Array): UnixfsNode {
  const pb = decodePb(cid, bytes)
  const fs = unmarshal(pb)
  if (fs instanceof Error) fail(cid, fs.message)
  return checkNode(cid, pb, fs)
}

function checkNode (cid: CID, pb: dagPb.PBNode, fs: UnixFS): UnixfsNode {
  switch (fs.type) {
    case 'file':
    case 'raw': {
      if (pb.Links.length !== fs.blockSizes.length) fail(cid, `${pb.Links.length} links but ${fs.blockSizes.length} block sizes`)
      const data = fs.data ?? new Uint8Array(0)
      let size = data.length
      const children = pb.Links.map((l, i) => {
        const child = { cid: l.Hash, size: safeSize(cid, fs.blockSizes[i]!, 'block size') }
        size = safeSize(cid, size + child.size, 'file size')
        return child
      })
      return { type: 'file', size, data, children, mode: fs.mode ?? DEFAULT_FILE_MODE }
    }
    case 'directory': {
      const names = new Set<string>()
      const links = pb.Links.map(l => {
        if (l.Name === undefined) fail(cid, 'a directory link without a name')
        checkName(cid, l.Name, names)
        return { name: l.Name, cid: l.Hash, tsize: safeSize(cid, l.Tsize ?? 0, 'link size') }
      })
      return { type: 'dir', links, mode: fs.mode ?? DEFAULT_DIR_MODE }
    }
    case 'hamt-sharded-directory': {
      const fanout = safeSize(cid, fs.fanout ?? 0n, 'fanout')
      if (fanout < 2 || fanout > MAX_HAMT_FANOUT || (fanout & (fanout - 1)) !== 0) fail(cid, `HAMT fanout ${fanout} is not a power of 2 from 2 to ${MAX_HAMT_FANOUT}`)
      return { type: 'hamt', fanout, links: hamtLinks(cid, fanout, pb.Links), mode: fs.mode ?? DEFAULT_DIR_MODE }
    }
    case 'symlink': {
      if (pb.Links.length !== 0) fail(cid, 'a symlink with links')
      let target: string
      try {
        target = utf8.decode(fs.data ?? new Uint8Array(0))
      } catch {
        fail(cid, 'symlink target is not UTF-8')
      }
      if (target.length === 0 || target.includes('\0') || (fs.data?.length ?? 0) > MAX_TARGET_BYTES) fail(cid, 'bad symlink target')
      return { type: 'symlink', target, mode: fs.mode ?? DEFAULT_FILE_MODE }
    }
    default:
      fail(cid, `UnixFS ${fs.type} nodes are not supported`)
  }
}

/**
 * The links of a DAG-PB block, checked as UnixFS when its data is UnixFS (names above all, so a DAG with `../x` in a
 * name is refused when it is imported, fetched or verified); other DAG-PB blocks, and UnixFS metadata nodes, which
 * nothing here reads, are taken as plain links.
 */
export function dagPbLinks (cid: CID, bytes: Uint8Array): CID[] {
  const pb = decodePb(cid, bytes)
  const fs = unmarshal(pb)
  if (!(fs instanceof Error) && fs.type !== 'metadata') checkNode(cid, pb, fs)
  return pb.Links.map(l => l.Hash)
}
