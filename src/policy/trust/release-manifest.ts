import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { cidOf } from '../../dag/cid.js'
import { CODEC_DAG_CBOR, CODEC_RAW } from '../../dag/constants.js'
import { getHasher, type HashName } from '../../dag/hashing.js'
import { verifyBlock } from '../../dag/verify.js'
import { BadSignatureError, InvalidManifestError, TooLargeError } from '../../errors.js'
import type { Block } from '../../store/interface.js'
import { MAX_BUNDLE_BYTES, MAX_DEPS, MAX_MANIFEST_BYTES, MAX_MIRROR_URL, MAX_MIRRORS } from './constants.js'
import { parsePublicKey, signPayload, verifyPayload, type KeyAlgorithm, type PublisherKey } from './keys.js'
import { strictReader } from './strict.js'
import { decodeCanonical } from '../../store/links.js'

/**
 * Release manifests. A manifest says, for one version of a named release, which DAG it is and how big, where
 * else it can be had, and what it depends on; the publisher signs it. Three layers, all DAG-CBOR:
 *
 *   manifest  { name, version, seq, root, size, dagBytes, blocks, hash, prev, mirrors, deps, created, expires }
 *   envelope  { manifest, sig: { alg, key, value } | null }       its CID is the release's CID
 *   bundle    { release: <envelope bytes>, blocks: [[cid, bytes], ...] }
 *
 * The signature covers a domain prefix and the canonical DAG-CBOR of the manifest. The bundle carries the
 * DAG's interior blocks (directory and file nodes, a few per cent of the data), each checked against its CID:
 * with them a client knows every chunk's file and offset before fetching any data, so a plain web server
 * holding the release's files serves as a mirror (coalesced range requests), and a DAG that grows past what
 * the manifest declares is refused (endless data).
 */

/** Formats of a release's name (npm-like) and version: what a valid manifest holds, not tunables. */
const NAME = /^[a-z0-9@][a-z0-9._@/+-]{0,213}$/
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$/

export interface Mirror {
  /** Base URL. */
  url: string
  /** 'files': a plain web server holding the release's files; 'gateway': an IPFS trustless gateway. */
  type: 'files' | 'gateway'
}

export interface Dependency {
  name: string
  version: string
  /** Root CID of the dependency's DAG: what is fetched must be exactly this. */
  root: CID
}

export interface ReleaseManifest {
  name: string
  version: string
  /** Grows with every release of the name; a client refuses one not newer than it holds. */
  seq: number
  root: CID
  /** Content bytes under the root. */
  size: number
  /** Bytes of every block of the DAG, each counted once. */
  dagBytes: number
  /** Blocks in the DAG. */
  blocks: number
  hash: HashName
  /** CID of the previous release of the name, if any. */
  prev: CID | null
  mirrors: Mirror[]
  deps: Dependency[]
  /** Ms since the epoch. */
  created: number
  /** Ms since the epoch; a client refuses the manifest after this (freeze attacks). */
  expires: number
}

export interface Signature {
  alg: KeyAlgorithm
  /** Public key text (see keys.ts). */
  key: string
  value: Uint8Array
}

export interface Envelope {
  manifest: ReleaseManifest
  sig: Signature | null
}

/** A decoded, signature-checked release: what the trust checks and the fetcher start from. */
export interface OpenedRelease {
  /** CID of the envelope: the release's identity. */
  cid: CID
  manifest: ReleaseManifest
  signer: string
  /** The envelope block as signed and encoded. */
  envelope: Uint8Array
  /** Interior blocks of the DAG, verified against their CIDs. */
  blocks: Block[]
}

const reader = strictReader(why => { throw new InvalidManifestError(`malformed release: ${why}`) })
/** Declared with its type, so TypeScript knows a call never returns. */
const bad: (why: string) => never = reader.bad
const { exact, int, str, cid } = reader

export function checkReleaseName (name: string): string {
  if (!NAME.test(name)) throw new InvalidManifestError(`release name ${JSON.stringify(name)} is not valid (lower case letters, digits, @ . _ / + -)`)
  return name
}

export function checkVersion (version: string): string {
  if (!VERSION.test(version)) throw new InvalidManifestError(`version ${JSON.stringify(version)} is not valid`)
  return version
}

function checkUrl (url: unknown): string {
  if (typeof url !== 'string' || url.length > MAX_MIRROR_URL) bad('a mirror URL is not valid')
  let u: URL
  try {
    u = new URL(url)
  } catch {
    bad(`mirror ${url} is not a URL`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') bad(`mirror ${url} is not http(s)`)
  return url
}

function toValue (m: ReleaseManifest): Record<string, unknown> {
  return {
    name: m.name,
    version: m.version,
    seq: m.seq,
    root: m.root,
    size: m.size,
    dagBytes: m.dagBytes,
    blocks: m.blocks,
    hash: m.hash,
    prev: m.prev,
    mirrors: m.mirrors.map(x => ({ url: x.url, type: x.type })),
    deps: m.deps.map(d => ({ name: d.name, version: d.version, root: d.root })),
    created: m.created,
    expires: m.expires
  }
}

function fromValue (v: unknown): ReleaseManifest {
  const m = exact(v, ['name', 'version', 'seq', 'root', 'size', 'dagBytes', 'blocks', 'hash', 'prev', 'mirrors', 'deps', 'created', 'expires'], 'manifest')
  if (m.hash !== 'blake3' && m.hash !== 'sha2-256') bad('hash must be blake3 or sha2-256')
  if (!Array.isArray(m.mirrors) || m.mirrors.length > MAX_MIRRORS) bad(`mirrors must be a list of at most ${MAX_MIRRORS}`)
  if (!Array.isArray(m.deps) || m.deps.length > MAX_DEPS) bad(`deps must be a list of at most ${MAX_DEPS}`)
  const seq = int(m.seq, 'seq')
  if (seq < 1) bad('seq must be at least 1')
  const created = int(m.created, 'created')
  const expires = int(m.expires, 'expires')
  if (expires <= created) bad('expires must be after created')
  return {
    name: str(m.name, NAME, 'name'),
    version: str(m.version, VERSION, 'version'),
    seq,
    root: cid(m.root, 'root'),
    size: int(m.size, 'size'),
    dagBytes: int(m.dagBytes, 'dagBytes'),
    blocks: int(m.blocks, 'blocks'),
    hash: m.hash,
    prev: m.prev === null ? null : cid(m.prev, 'prev'),
    mirrors: m.mirrors.map((x: unknown) => {
      const e = exact(x, ['url', 'type'], 'a mirror')
      if (e.type !== 'files' && e.type !== 'gateway') bad('a mirror type must be files or gateway')
      return { url: checkUrl(e.url), type: e.type }
    }),
    deps: m.deps.map((x: unknown) => {
      const d = exact(x, ['name', 'version', 'root'], 'a dependency')
      return { name: str(d.name, NAME, 'a dependency name'), version: str(d.version, VERSION, 'a dependency version'), root: cid(d.root, 'a dependency root') }
    }),
    created,
    expires
  }
}

/** Check a manifest the way a reader will, before signing it. */
export function checkManifest (m: ReleaseManifest): ReleaseManifest {
  return fromValue(dagCbor.decode(dagCbor.encode(toValue(m))))
}

/** Sign a manifest: the envelope's bytes and CID (the release's identity). */
export async function signManifest (m: ReleaseManifest, key: PublisherKey): Promise<{ cid: CID, bytes: Uint8Array }> {
  const value = toValue(checkManifest(m))
  const payload = dagCbor.encode(value)
  const bytes = dagCbor.encode({ manifest: value, sig: { alg: key.alg, key: key.publicKey, value: signPayload(key, payload) } })
  if (bytes.length > MAX_MANIFEST_BYTES) throw new TooLargeError(`manifest of ${bytes.length} bytes exceeds ${MAX_MANIFEST_BYTES}`)
  return { cid: cidOf(await getHasher(m.hash), CODEC_DAG_CBOR, bytes), bytes }
}

/** Encode a bundle: the signed envelope and the DAG's interior blocks. */
export function encodeBundle (envelope: Uint8Array, blocks: Block[]): Uint8Array {
  const bytes = dagCbor.encode({ release: envelope, blocks: blocks.map(b => [b.cid, b.bytes]) })
  if (bytes.length > MAX_BUNDLE_BYTES) throw new TooLargeError(`release bundle of ${bytes.length} bytes exceeds ${MAX_BUNDLE_BYTES}`)
  return bytes
}

function decodeStrict (bytes: Uint8Array, what: string): unknown {
  try {
    return decodeCanonical(bytes)
  } catch (err) {
    bad(`${what} is not canonical DAG-CBOR (${(err as Error).message})`)
  }
}

/** Decode an envelope and check its signature (trust in the signer is the caller's question). */
export async function openEnvelope (bytes: Uint8Array): Promise<{ cid: CID, manifest: ReleaseManifest, signer: string }> {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new TooLargeError(`manifest of ${bytes.length} bytes exceeds ${MAX_MANIFEST_BYTES}`)
  const env = exact(decodeStrict(bytes, 'the envelope'), ['manifest', 'sig'], 'the envelope')
  const manifest = fromValue(env.manifest)
  if (env.sig === null) throw new BadSignatureError(`release ${manifest.name} ${manifest.version} is not signed`)
  const sig = exact(env.sig, ['alg', 'key', 'value'], 'the signature')
  if (typeof sig.key !== 'string' || !(sig.value instanceof Uint8Array)) bad('the signature must hold a key and a value')
  let key: string
  try {
    key = parsePublicKey(sig.key).text
  } catch (err) {
    throw new BadSignatureError(`release ${manifest.name} names an unusable key: ${(err as Error).message}`)
  }
  // the key as signed, not a spelling of it: other spellings would give the same release other bytes (other CIDs)
  if (typeof sig.alg !== 'string' || sig.key !== key) throw new BadSignatureError(`release ${manifest.name}: the signature's key is not written canonically`)
  if (!key.startsWith(`${sig.alg}:`)) throw new BadSignatureError(`release ${manifest.name}: signature algorithm ${String(sig.alg)} does not match its key`)
  if (!verifyPayload(key, dagCbor.encode(env.manifest), sig.value)) {
    throw new BadSignatureError(`release ${manifest.name} ${manifest.version}: signature does not verify`)
  }
  return { cid: cidOf(await getHasher(manifest.hash), CODEC_DAG_CBOR, bytes), manifest, signer: key }
}

/**
 * Decode a bundle: the envelope's signature is checked, and each interior block against its CID. Blocks beyond
 * what the manifest declares (more bytes or blocks than the whole DAG) are refused: endless data.
 */
export async function openBundle (bytes: Uint8Array): Promise<OpenedRelease> {
  if (bytes.length > MAX_BUNDLE_BYTES) throw new TooLargeError(`release bundle of ${bytes.length} bytes exceeds ${MAX_BUNDLE_BYTES}`)
  const b = exact(decodeStrict(bytes, 'the bundle'), ['release', 'blocks'], 'the bundle')
  if (!(b.release instanceof Uint8Array)) bad('release must be bytes')
  const { cid: releaseCid, manifest, signer } = await openEnvelope(b.release)
  if (!Array.isArray(b.blocks)) bad('blocks must be a list')
  const blocks: Block[] = []
  let total = 0
  for (const entry of b.blocks as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || !(entry[1] instanceof Uint8Array)) bad('a block is not [cid, bytes]')
    const c = cid(entry[0], 'a block CID')
    if (c.code !== CODEC_DAG_CBOR && !(c.code === CODEC_RAW && c.equals(manifest.root))) bad(`block ${c} is not an interior block of the DAG`)
    total += entry[1].length
    if (total > manifest.dagBytes || blocks.length + 1 > manifest.blocks) {
      throw new TooLargeError(`release ${manifest.name} ${manifest.version} carries more than the ${manifest.dagBytes} bytes in ${manifest.blocks} blocks its manifest declares`)
    }
    await verifyBlock(c, entry[1], `the bundle of ${manifest.name} ${manifest.version}`)
    blocks.push({ cid: c, bytes: entry[1] })
  }
  return { cid: releaseCid, manifest, signer, envelope: b.release, blocks }
}

/**
 * A smaller bundle for an asker: the envelope alone (`blocks: false`), or without the interior blocks that
 * `held` (the bundle of a release the asker holds) already carried. The envelope is unchanged, so the signature
 * still verifies; the asker has the rest of the interior in its store.
 */
export function thinBundle (bundle: Uint8Array, options: { blocks: boolean, held?: Uint8Array }): Uint8Array {
  const b = dagCbor.decode(bundle) as { release: Uint8Array, blocks: Array<[CID, Uint8Array]> }
  if (!options.blocks) return dagCbor.encode({ release: b.release, blocks: [] })
  if (options.held === undefined) return bundle
  const old = new Set((dagCbor.decode(options.held) as { blocks: Array<[CID, Uint8Array]> }).blocks.map(([c]) => c.toString()))
  return dagCbor.encode({ release: b.release, blocks: b.blocks.filter(([c]) => !old.has(c.toString())) })
}
