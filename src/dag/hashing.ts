import { createHash } from 'node:crypto'
import type { IHasher } from 'hash-wasm'
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

/** Where a BLAKE3 digest is computed: native code (prebuilt for the usual platforms), else WebAssembly. */
export type Blake3Implementation = 'native' | 'wasm'

class Blake3Hasher implements BlockHasher {
  readonly name = 'blake3' as const
  readonly code = HASH_BLAKE3
  constructor (readonly implementation: Blake3Implementation, readonly digest: (bytes: Uint8Array) => Uint8Array) {}
}

/**
 * hash-wasm's BLAKE3: runs everywhere, at about a fifth of the native speed (bench:hash). Loaded only when asked
 * for: where the native binary loads, neither a node nor a command loads its 270 KB of JavaScript.
 */
async function wasmBlake3 (): Promise<Blake3Hasher> {
  const { createBLAKE3 } = await import('hash-wasm')
  const wasm: IHasher = await createBLAKE3(256)
  return new Blake3Hasher('wasm', bytes => wasm.init().update(bytes).digest('binary'))
}

/** @napi-rs/blake-hash's BLAKE3 (the Rust crate), or undefined where no prebuilt binary loads. */
async function nativeBlake3 (): Promise<Blake3Hasher | undefined> {
  try {
    const { blake3 } = await import('@napi-rs/blake-hash')
    // a Buffer over the same memory (no copy): the binding's types take a Buffer
    return new Blake3Hasher('native', bytes => blake3(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)))
  } catch {
    return undefined
  }
}

/** Every BLAKE3 implementation that loads here (bench:hash compares them; tests check they agree). */
export async function blake3Implementations (): Promise<Array<BlockHasher & { implementation: Blake3Implementation }>> {
  const native = await nativeBlake3()
  return [...native === undefined ? [] : [native], await wasmBlake3()]
}

let blake3: Promise<Blake3Hasher> | undefined
const sha256 = new Sha256Hasher()

/**
 * Resolve a hash by name or multihash code. BLAKE3 is the default: fast on ARM boards without SHA extensions. It
 * runs natively where @napi-rs/blake-hash has a binary for the platform, else in WebAssembly (same digests).
 */
export async function getHasher (which: HashName | number = 'blake3'): Promise<BlockHasher> {
  if (which === 'blake3' || which === HASH_BLAKE3) {
    blake3 ??= nativeBlake3().then(async native => native ?? await wasmBlake3())
    return await blake3
  }
  if (which === 'sha2-256' || which === HASH_SHA2_256) return sha256
  throw new UnsupportedHashError(which)
}
