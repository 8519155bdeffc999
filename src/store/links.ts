import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { equals } from 'multiformats/bytes'
import { CID } from 'multiformats/cid'
import { InvalidNodeError } from '../errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW } from './constants.js'

/** A map key for bytes (a CID's, say) without encoding them: one char per byte. */
export function bytesKey (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/**
 * DAG-CBOR decoded only if `bytes` are the value's one canonical encoding; throws otherwise. The decoder alone also
 * reads a float 1.0 as 1, map keys out of order and lossy UTF-8, so one value would have many encodings (many CIDs
 * for one node, new hashes for a signed release): the value is encoded again and must give the same bytes.
 */
export function decodeCanonical (bytes: Uint8Array): unknown {
  const value = dagCbor.decode(bytes)
  if (!equals(dagCbor.encode(value), bytes)) throw new Error('not its canonical encoding')
  return value
}

/** A DAG-CBOR block decoded (canonical only), or ERR_INVALID_NODE. */
export function decodeCbor (cid: CID, bytes: Uint8Array): unknown {
  try {
    return decodeCanonical(bytes)
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
      // blocks are checked for their canonical encoding when they come in (dag/links.ts); walking them again for
      // pins and GC needs only their links, without encoding every node a second time
      try {
        return cborLinks(dagCbor.decode(bytes))
      } catch (err) {
        throw new InvalidNodeError(cid.toString(), `not DAG-CBOR (${(err as Error).message})`)
      }
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
