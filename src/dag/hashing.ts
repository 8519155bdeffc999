import { createHash } from 'node:crypto'
import { createBLAKE3, type IHasher } from 'hash-wasm'
import { UnsupportedHashError } from '../errors.js'
import { HASH_BLAKE3, HASH_SHA2_256 } from './constants.js'

/** Names accepted wherever a hash is chosen. */
export type HashName = 'blake3' | 'sha2-256'

/** A synchronous multihash hasher; `digest` returns the raw digest bytes. */
export interface BlockHasher {
  readonly name: HashName
  readonly code: number
  digest (bytes: Uint8Array): Uint8Array
}

class Sha256Hasher implements BlockHasher {
  readonly name = 'sha2-256' as const
  readonly code = HASH_SHA2_256
  digest (bytes: Uint8Array): Uint8Array {
    return createHash('sha256').update(bytes).digest()
  }
}

class Blake3Hasher implements BlockHasher {
  readonly name = 'blake3' as const
  readonly code = HASH_BLAKE3
  private readonly wasm: IHasher
  constructor (wasm: IHasher) {
    this.wasm = wasm
  }

  digest (bytes: Uint8Array): Uint8Array {
    return this.wasm.init().update(bytes).digest('binary')
  }
}

let blake3: Promise<Blake3Hasher> | undefined
const sha256 = new Sha256Hasher()

/** Resolve a hash by name or multihash code. BLAKE3 is the default: fast on ARM boards without SHA extensions. */
export async function getHasher (which: HashName | number = 'blake3'): Promise<BlockHasher> {
  if (which === 'blake3' || which === HASH_BLAKE3) {
    blake3 ??= createBLAKE3(256).then(w => new Blake3Hasher(w))
    return await blake3
  }
  if (which === 'sha2-256' || which === HASH_SHA2_256) return sha256
  throw new UnsupportedHashError(which)
}
