import type { CID } from 'multiformats/cid'
import { AbortError, InvalidNodeError, NotInDagError } from '../../errors.js'
import type { Blockstore } from '../../store/interface.js'
import { CODEC_DAG_PB, CODEC_RAW } from '../constants.js'
import { getVerified } from '../verify.js'
import { MAX_FILE_DEPTH } from './constants.js'
import { decodeUnixfs } from './node.js'

/** What reading needs of a store. */
export type ReadStore = Pick<Blockstore, 'getSync'>

/**
 * Bytes [from, to) of the UnixFS file at `cid`, verifying every block as it is read. A range reads only the blocks
 * it overlaps (block sizes locate it from the root down). Each node read must hold the bytes its parent says it
 * does, so a range is never filled from the wrong place.
 */
export async function * readUnixfsFile (store: ReadStore, cid: CID, from: number, to: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  yield * readRange(store, cid, undefined, 0, from, to, signal, 0)
}

async function * readRange (
  store: ReadStore, cid: CID, expected: number | undefined, base: number, from: number, to: number, signal: AbortSignal | undefined, depth: number
): AsyncGenerator<Uint8Array> {
  if (signal?.aborted === true) throw new AbortError()
  if (cid.code === CODEC_RAW) {
    const bytes = await getVerified(store, cid)
    if (expected !== undefined && bytes.length !== expected) throw new InvalidNodeError(cid.toString(), `leaf of ${bytes.length} bytes where its parent says ${expected}`)
    const start = Math.max(0, from - base)
    const stop = Math.min(bytes.length, to - base)
    if (stop > start) yield start === 0 && stop === bytes.length ? bytes : bytes.subarray(start, stop)
    return
  }
  if (cid.code !== CODEC_DAG_PB) throw new NotInDagError(`${cid} is not a UnixFS file part (codec 0x${cid.code.toString(16)})`)
  if (depth > MAX_FILE_DEPTH) throw new InvalidNodeError(cid.toString(), `file tree deeper than ${MAX_FILE_DEPTH} levels`)
  const node = decodeUnixfs(cid, await getVerified(store, cid))
  if (node.type !== 'file') throw new NotInDagError(`${cid} is a ${node.type} inside a file`)
  if (expected !== undefined && node.size !== expected) throw new InvalidNodeError(cid.toString(), `file node of ${node.size} bytes where its parent says ${expected}`)
  const start = Math.max(0, from - base)
  const stop = Math.min(node.data.length, to - base)
  if (stop > start) yield node.data.subarray(start, stop)
  let pos = base + node.data.length
  for (const child of node.children) {
    if (pos >= to) return
    const next = pos + child.size
    if (next > from && child.size > 0) yield * readRange(store, child.cid, child.size, pos, from, to, signal, depth + 1)
    pos = next
  }
}
