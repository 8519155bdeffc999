import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidCidError } from '../errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW, HASH_BLAKE3, HASH_SHA2_256 } from './constants.js'
import { HASH_IDENTITY } from '../store/constants.js'
import type { BlockHasher } from './hashing.js'
import { identityBytes } from '../store/identity.js'
import { bytesKey } from '../store/links.js'

export { bytesKey }

/** CIDv1 of `bytes` under `codec`, hashed with `hasher`. */
export function cidOf (hasher: BlockHasher, codec: number, bytes: Uint8Array): CID {
  return CID.createV1(codec, Digest.create(hasher.code, hasher.digest(bytes)))
}

const CODECS = new Set([CODEC_RAW, CODEC_DAG_CBOR, CODEC_DAG_PB])
const HASHES = new Set([HASH_BLAKE3, HASH_SHA2_256, HASH_IDENTITY])

/**
 * Parse a CID string (base32 `b…` CIDv1, or base58 `Qm…` CIDv0) that names a codec and hash cmesh handles. An
 * identity CID (its bytes inline) is accepted up to MAX_IDENTITY_SIZE bytes, ERR_IDENTITY_TOO_LARGE above.
 */
export function parseCid (input: string): CID {
  const text = input.trim()
  if (text.length === 0) throw new InvalidCidError(input, 'empty')
  let cid: CID
  try {
    cid = text.startsWith('Q') ? CID.parse(text, base58btc) : CID.parse(text, text.startsWith('z') ? base58btc : base32)
  } catch (err) {
    throw new InvalidCidError(input, (err as Error).message)
  }
  if (!CODECS.has(cid.code)) throw new InvalidCidError(input, `codec 0x${cid.code.toString(16)} is not supported`)
  if (!HASHES.has(cid.multihash.code)) throw new InvalidCidError(input, `hash 0x${cid.multihash.code.toString(16)} is not supported`)
  identityBytes(cid)
  return cid
}

/** A map key for a CID: its bytes as a string (base32-encoding every CID costs more than hashing the block). */
export function cidKey (cid: CID): string {
  return bytesKey(cid.bytes)
}
