import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { InvalidNodeError } from '../errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW } from './constants.js'
import { isNodeShaped, nodeFromValue } from './nodes.js'

/**
 * The CIDs a block links to, for any codec cmesh stores: raw (none), DAG-CBOR (every CID in the value, which for
 * cmesh nodes is exactly the schema's links, and for manifests their roots) and DAG-PB (from IPFS CARs).
 * Unknown codecs have no known links.
 */
export function blockLinks (cid: CID, bytes: Uint8Array): CID[] {
  switch (cid.code) {
    case CODEC_RAW:
      return []
    case CODEC_DAG_CBOR: {
      let value: unknown
      try {
        value = dagCbor.decode(bytes)
      } catch (err) {
        throw new InvalidNodeError(cid.toString(), `not canonical DAG-CBOR (${(err as Error).message})`)
      }
      // a node in cmesh's schema must be a valid one (entry names above all): a DAG with `../x` or NUL in a name
      // is refused when it is imported, fetched or verified, not only when it is exported
      if (isNodeShaped(value)) nodeFromValue(cid, value)
      const out: CID[] = []
      collect(value, out)
      return out
    }
    case CODEC_DAG_PB: {
      try {
        return dagPb.decode(bytes).Links.map(l => l.Hash)
      } catch (err) {
        throw new InvalidNodeError(cid.toString(), `not DAG-PB (${(err as Error).message})`)
      }
    }
    default:
      return []
  }
}

function collect (value: unknown, out: CID[]): void {
  if (value === null || typeof value !== 'object') return
  const cid = CID.asCID(value)
  if (cid != null) {
    out.push(cid)
    return
  }
  if (value instanceof Uint8Array) return
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out)
    return
  }
  for (const v of Object.values(value)) collect(v, out)
}
