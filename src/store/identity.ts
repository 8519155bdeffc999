import type { CID } from 'multiformats/cid'
import { IdentityTooLargeError } from '../errors.js'
import { HASH_IDENTITY, MAX_IDENTITY_SIZE } from './constants.js'

/**
 * The bytes an identity CID carries inline (its multihash digest), or undefined for any other CID. Such a block is
 * never stored nor fetched: every read answers it from the CID. Over MAX_IDENTITY_SIZE bytes: ERR_IDENTITY_TOO_LARGE.
 */
export function identityBytes (cid: CID): Uint8Array | undefined {
  if (cid.multihash.code !== HASH_IDENTITY) return undefined
  const bytes = cid.multihash.digest
  if (bytes.length > MAX_IDENTITY_SIZE) throw new IdentityTooLargeError(cid.toString(), bytes.length, MAX_IDENTITY_SIZE)
  return bytes
}
