import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { KeyError } from '../../errors.js'

/**
 * Publisher keys: Ed25519 (the default) or ECDSA P-256, both from node:crypto. A public key is written as text,
 * `<alg>:<base64url of its SPKI DER>`, so it can be pasted into `cmesh trust add` and compared as a string.
 * Private keys live in PKCS#8 PEM files, mode 0600.
 */
export type KeyAlgorithm = 'ed25519' | 'p256'

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ed25519', 'p256']

export interface PublisherKey {
  alg: KeyAlgorithm
  privateKey: KeyObject
  /** The public key as text: `ed25519:MCow...`. */
  publicKey: string
}

/** Signatures cover this prefix and the payload: a signature made for something else never verifies as a release. */
const DOMAIN = new TextEncoder().encode('cmesh-release-v1\0')

function algorithmOf (key: KeyObject): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'p256'
  throw new KeyError(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'} (use ed25519 or p256)`)
}

function publicText (key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return `${algorithmOf(pub)}:${pub.export({ type: 'spki', format: 'der' }).toString('base64url')}`
}

export function generatePublisherKey (alg: KeyAlgorithm = 'ed25519'): PublisherKey {
  if (!KEY_ALGORITHMS.includes(alg)) throw new KeyError(`unknown key algorithm ${String(alg)} (use ed25519 or p256)`)
  const { privateKey } = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  return { alg, privateKey, publicKey: publicText(privateKey) }
}

/** Write a private key as PKCS#8 PEM, mode 0600, never over an existing file. */
export async function savePublisherKey (key: PublisherKey, path: string): Promise<void> {
  try {
    await writeFile(path, key.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
  } catch (err) {
    throw new KeyError(`cannot write key ${path}: ${(err as Error).message}`)
  }
}

export async function loadPublisherKey (path: string): Promise<PublisherKey> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch (err) {
    throw new KeyError(`cannot read key ${path}: ${(err as Error).message}`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(pem)
  } catch (err) {
    throw new KeyError(`${path} is not a PEM private key: ${(err as Error).message}`)
  }
  return { alg: algorithmOf(privateKey), privateKey, publicKey: publicText(privateKey) }
}

/** Parse and check public key text; returns it normalised (its algorithm prefix agrees with its key). */
export function parsePublicKey (text: string): { alg: KeyAlgorithm, key: KeyObject, text: string } {
  const colon = text.indexOf(':')
  const alg = text.slice(0, colon) as KeyAlgorithm
  if (colon < 0 || !KEY_ALGORITHMS.includes(alg)) throw new KeyError(`public key must look like ed25519:<base64url> or p256:<base64url>, got ${JSON.stringify(text.slice(0, 40))}`)
  let key: KeyObject
  try {
    key = createPublicKey({ key: Buffer.from(text.slice(colon + 1), 'base64url'), format: 'der', type: 'spki' })
  } catch (err) {
    throw new KeyError(`not a valid ${alg} public key: ${(err as Error).message}`)
  }
  if (algorithmOf(key) !== alg) throw new KeyError(`public key says ${alg} but holds a ${algorithmOf(key)} key`)
  return { alg, key, text: publicText(key) }
}

function signed (payload: Uint8Array): Buffer {
  return Buffer.concat([DOMAIN, payload])
}

/** Sign a payload: Ed25519 (64 bytes) or ECDSA P-256 over SHA-256 (64 bytes, r || s). */
export function signPayload (key: PublisherKey, payload: Uint8Array): Uint8Array {
  return key.alg === 'ed25519'
    ? sign(null, signed(payload), key.privateKey)
    : sign('sha256', signed(payload), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
}

/** Whether `signature` over `payload` verifies against the public key text. Never throws for a bad signature. */
export function verifyPayload (publicKey: string, payload: Uint8Array, signature: Uint8Array): boolean {
  const { alg, key } = parsePublicKey(publicKey)
  try {
    return alg === 'ed25519'
      ? verify(null, signed(payload), key, signature)
      : verify('sha256', signed(payload), { key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch {
    return false
  }
}
