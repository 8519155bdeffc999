/**
 * Writing UnixFS (writer.ts: `importPath(..., { format: 'unixfs' })`) and reading it.
 *
 * Reading UnixFS (specs.ipfs.tech/unixfs), the format IPFS tools write: DAG-PB files (raw or DAG-PB leaves, inline
 * data), plain and HAMT-sharded directories, symlinks, modes. The exporter (../exporter.ts) hands DAG-PB CIDs here,
 * so `cat`, `ls`, `get`, paths and the gateway read IPFS content as they read cmesh's own format, with the same
 * verification (every block re-hashed before use), the same entry-name rules and bounded depth. Modification times
 * are not restored: cmesh's export sets none for its own format either.
 */
import type { CID } from 'multiformats/cid'
import { NotInDagError } from '../../errors.js'
import { getVerified } from '../verify.js'
import type { ReadStore } from './file.js'
import { decodeUnixfs } from './node.js'

export { MAX_FILE_DEPTH, MAX_HAMT_DEPTH, MAX_HAMT_FANOUT } from './constants.js'
export { decodeUnixfs, dagPbLinks, type UnixfsNode, type UnixfsLink, type UnixfsChild, type HamtLink } from './node.js'
export { readUnixfsFile, type ReadStore } from './file.js'
export { unixfsEntries, unixfsLookup, unixfsLookupLink, readUnixfsDir } from './directory.js'
export { HamtBits } from './hamt.js'
export { UnixfsFileBuilder, writeUnixfsDirectory, type UnixfsPiece, type EmitPb } from './writer.js'

/** Kind and size of the UnixFS node at `cid`, from its root block (see unixfsEntries for what a directory's size is). */
export async function unixfsStat (store: ReadStore, cid: CID): Promise<{ kind: 'file' | 'dir', size: number, entries?: number }> {
  const node = decodeUnixfs(cid, await getVerified(store, cid))
  switch (node.type) {
    case 'file': return { kind: 'file', size: node.size }
    case 'dir': return { kind: 'dir', size: node.links.reduce((sum, l) => sum + l.tsize, 0), entries: node.links.length }
    case 'hamt': return { kind: 'dir', size: node.links.reduce((sum, l) => sum + l.tsize, 0) }
    default: throw new NotInDagError(`${cid} is a symlink (to ${JSON.stringify(node.target)}), not a file or directory`)
  }
}
