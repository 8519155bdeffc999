import { CID } from 'multiformats/cid'
import { equals } from 'multiformats/bytes'
import { BlockCorruptError, BlockNotFoundError, InvalidNodeError } from '../errors.js'
import { identityBytes } from '../store/identity.js'
import type { Blockstore } from '../store/interface.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB } from './constants.js'
import { getHasher, type BlockHasher } from './hashing.js'

/**
 * Throw ERR_BLOCK_CORRUPT unless `bytes` hash to `cid`'s multihash (ERR_UNSUPPORTED_HASH for unknown hashes); an
 * identity CID's bytes must be its digest (ERR_IDENTITY_TOO_LARGE past the cap).
 */
export async function verifyBlock (cid: CID, bytes: Uint8Array, where?: string): Promise<void> {
  const inline = identityBytes(cid)
  if (inline !== undefined) {
    if (!equals(inline, bytes)) throw new BlockCorruptError(cid.toString(), where)
    return
  }
  checkDigest(await getHasher(cid.multihash.code), cid, bytes, where)
}

/** verifyBlock with the hasher of `cid`'s multihash already at hand: synchronous, so it can be timed alone. */
export function checkDigest (hasher: BlockHasher, cid: CID, bytes: Uint8Array, where?: string): void {
  if (!equals(hasher.digest(bytes), cid.multihash.digest)) throw new BlockCorruptError(cid.toString(), where)
}

/** Read a block and check it against its CID before anyone uses it. */
export async function getVerified (store: Pick<Blockstore, 'getSync'>, cid: CID): Promise<Uint8Array> {
  const bytes = store.getSync(cid)
  await verifyBlock(cid, bytes)
  return bytes
}

export type VerifyProgressEvent =
  | { type: 'verify:blocks', blocks: number, total: number }
  | { type: 'verify:roots', roots: number, total: number }

export interface VerifyOptions {
  signal?: AbortSignal
  onProgress?: (event: VerifyProgressEvent) => void
}

export interface VerifyReport {
  blocks: number
  bytes: number
  /** Blocks whose bytes do not hash to their CID. */
  corrupt: CID[]
  /** Roots recorded complete that lack blocks, with the first missing block. */
  incomplete: Array<{ root: CID, missing: CID[] }>
  /** Roots whose nodes could not be decoded. */
  malformed: Array<{ root: CID, reason: string }>
  /** Blocks that hash right but are not valid nodes (a cmesh or UnixFS node outside its schema, unsafe names included). */
  invalid: Array<{ cid: CID, reason: string }>
  ok: boolean
}

/** Re-hash every block against its CID and check that every complete root still has all its blocks. */
export async function verifyStore (store: Pick<Blockstore, 'entries' | 'roots' | 'missing' | 'stat'>, options: VerifyOptions = {}): Promise<VerifyReport> {
  const total = store.stat().blocks
  const { blockLinks } = await import('./links.js') // node codecs: loaded here, not by every reader of a block
  const report: VerifyReport = { blocks: 0, bytes: 0, corrupt: [], incomplete: [], malformed: [], invalid: [], ok: true }
  for (const { cid, bytes } of store.entries()) {
    options.signal?.throwIfAborted()
    try {
      await verifyBlock(cid, bytes)
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_BLOCK_CORRUPT') throw err
      report.corrupt.push(cid)
      continue
    }
    try {
      if (cid.code === CODEC_DAG_CBOR || cid.code === CODEC_DAG_PB) blockLinks(cid, bytes)
    } catch (err) {
      if (!(err instanceof InvalidNodeError)) throw err
      report.invalid.push({ cid, reason: err.message })
    }
    report.blocks++
    report.bytes += bytes.length
    if (report.blocks % 1024 === 0) options.onProgress?.({ type: 'verify:blocks', blocks: report.blocks, total })
  }
  const roots = [...store.roots()]
  let done = 0
  for (const { cid } of roots) {
    options.signal?.throwIfAborted()
    try {
      const missing = store.missing(cid)
      if (missing.length > 0) report.incomplete.push({ root: cid, missing })
    } catch (err) {
      if (!(err instanceof InvalidNodeError) && !(err instanceof BlockNotFoundError)) throw err
      report.malformed.push({ root: cid, reason: err.message })
    }
    options.onProgress?.({ type: 'verify:roots', roots: ++done, total: roots.length })
  }
  report.ok = report.corrupt.length === 0 && report.incomplete.length === 0 && report.malformed.length === 0 && report.invalid.length === 0
  return report
}
