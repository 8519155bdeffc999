import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { InvalidNodeError } from '../errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW } from './constants.js'

/** A map key for bytes (a CID's, say) without encoding them: one char per byte. */
export function bytesKey (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** A DAG-CBOR block decoded, or ERR_INVALID_NODE. */
export function decodeCbor (cid: CID, bytes: Uint8Array): unknown {
  try {
    return dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidNodeError(cid.toString(), `not canonical DAG-CBOR (${(err as Error).message})`)
  }
}

/** Every CID inside a decoded DAG-CBOR value, in order. */
export function cborLinks (value: unknown, out: CID[] = []): CID[] {
  if (value === null || typeof value !== 'object') return out
  const cid = CID.asCID(value)
  if (cid != null) {
    out.push(cid)
    return out
  }
  if (value instanceof Uint8Array) return out
  if (Array.isArray(value)) {
    for (const v of value) cborLinks(v, out)
    return out
  }
  for (const v of Object.values(value)) cborLinks(v, out)
  return out
}

/**
 * The CIDs a block links to, by codec alone: raw (none), DAG-CBOR (every CID in the value), DAG-PB (its links);
 * unknown codecs have no known links. What the links mean (cmesh's schema) is the dag layer's (dag/links.ts).
 */
export function codecLinks (cid: CID, bytes: Uint8Array): CID[] {
  switch (cid.code) {
    case CODEC_RAW:
      return []
    case CODEC_DAG_CBOR:
      return cborLinks(decodeCbor(cid, bytes))
    case CODEC_DAG_PB:
      try {
        return dagPb.decode(bytes).Links.map(l => l.Hash)
      } catch (err) {
        throw new InvalidNodeError(cid.toString(), `not DAG-PB (${(err as Error).message})`)
      }
    default:
      return []
  }
}
