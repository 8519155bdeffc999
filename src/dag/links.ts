import type { CID } from 'multiformats/cid'
import { cborLinks, codecLinks, decodeCbor } from '../store/links.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB } from './constants.js'
import { isNodeShaped, nodeFromValue } from './nodes.js'
import { dagPbLinks } from './unixfs/node.js'

/**
 * The CIDs a block links to, for any codec cmesh stores: raw (none), DAG-CBOR (every CID in the value, which for
 * cmesh nodes is exactly the schema's links, and for manifests their roots) and DAG-PB (UnixFS, from IPFS).
 * A block meant as a cmesh node or a UnixFS node must be a valid one (entry names above all): a DAG with `../x`
 * or NUL in a name is refused when it is imported, fetched or verified, not only when it is exported.
 */
export function blockLinks (cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === CODEC_DAG_PB) return dagPbLinks(cid, bytes)
  if (cid.code !== CODEC_DAG_CBOR) return codecLinks(cid, bytes)
  const value = decodeCbor(cid, bytes)
  if (isNodeShaped(value)) nodeFromValue(cid, value)
  return cborLinks(value)
}
