import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { decodeCanonical } from '../../store/links.js'
import { CmeshError } from '../../errors.js'
import { MAX_BLOCK_SIZE } from '../../dag/constants.js'
import { MAX_ENTRIES, MAX_MESSAGE_BYTES, type CompressionAlg } from './constants.js'

/**
 * Messages of /cmesh/blocks/1.0.0, each one DAG-CBOR map behind a varint length prefix:
 *   { t: 'want', cids: [cid, ...], blocks: bool }   ask for blocks (or, with blocks: false, only whether they are had)
 *   { t: 'cancel', cids: [cid, ...] }               no longer wanted
 *   { t: 'have', cids: [cid, ...] }                 the sender holds these
 *   { t: 'dont-have', cids: [cid, ...] }            the sender does not
 *   { t: 'blocks', blocks: [[cid, bytes], ...] }    block bytes (the receiver verifies each against its CID)
 *   { t: 'zblocks', alg: 'br' | 'gzip', size: int, data: bytes }
 *                                                   a compressed blocks message: `data` decompresses (brotli or
 *                                                   gzip) to exactly `size` bytes, the complete DAG-CBOR encoding
 *                                                   of one `blocks` message as above (never another zblocks)
 * Decoding is strict: canonical DAG-CBOR only, exact fields, at most MAX_ENTRIES entries, blocks within the limit,
 * a zblocks `size` from 1 to MAX_MESSAGE_BYTES. Decompressing a zblocks (src/sync/exchange/compression.ts) is a separate,
 * asynchronous step that stops at `size` bytes and refuses a payload of any other length.
 */
export type Message =
  | { t: 'want', cids: CID[], blocks: boolean }
  | { t: 'cancel', cids: CID[] }
  | { t: 'have', cids: CID[] }
  | { t: 'dont-have', cids: CID[] }
  | { t: 'blocks', blocks: Array<{ cid: CID, bytes: Uint8Array }> }
  | { t: 'zblocks', alg: CompressionAlg, size: number, data: Uint8Array }

/** Compression of a zblocks message: brotli or gzip, as Node's zlib speaks them. */
export type { CompressionAlg }

/** A peer sent something outside the protocol. */
export class ProtocolError extends CmeshError {
  constructor (message: string) {
    super('ERR_PROTOCOL', message)
  }
}

function fail (why: string): never {
  throw new ProtocolError(`malformed message: ${why}`)
}

function exact (obj: Record<string, unknown>, keys: string[]): void {
  const have = Object.keys(obj)
  if (have.length !== keys.length || !keys.every(k => Object.hasOwn(obj, k))) fail(`expected fields ${keys.join(', ')}, got ${have.join(', ')}`)
}

function cidList (v: unknown): CID[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_ENTRIES) fail(`cids must be a list of 1-${MAX_ENTRIES}`)
  return v.map(c => CID.asCID(c) ?? fail('an entry is not a CID'))
}

export function encodeMessage (m: Message): Uint8Array {
  const value = m.t === 'blocks'
    ? { t: m.t, blocks: m.blocks.map(b => [b.cid, b.bytes]) }
    : m.t === 'zblocks'
      ? { t: m.t, alg: m.alg, size: m.size, data: m.data }
      : m.t === 'want' ? { t: m.t, cids: m.cids, blocks: m.blocks } : { t: m.t, cids: m.cids }
  const bytes = dagCbor.encode(value)
  if (bytes.length > MAX_MESSAGE_BYTES) throw new ProtocolError(`message of ${bytes.length} bytes exceeds ${MAX_MESSAGE_BYTES}`)
  return bytes
}

export function decodeMessage (bytes: Uint8Array): Message {
  if (bytes.length > MAX_MESSAGE_BYTES) fail('too large')
  let value: unknown
  try {
    value = decodeCanonical(bytes)
  } catch (err) {
    fail(`not canonical DAG-CBOR (${(err as Error).message})`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('not a map')
  const m = value as Record<string, unknown>
  switch (m.t) {
    case 'want':
      exact(m, ['t', 'cids', 'blocks'])
      if (typeof m.blocks !== 'boolean') fail('blocks must be a boolean')
      return { t: 'want', cids: cidList(m.cids), blocks: m.blocks }
    case 'cancel':
    case 'have':
    case 'dont-have':
      exact(m, ['t', 'cids'])
      return { t: m.t, cids: cidList(m.cids) }
    case 'blocks': {
      exact(m, ['t', 'blocks'])
      if (!Array.isArray(m.blocks) || m.blocks.length === 0 || m.blocks.length > MAX_ENTRIES) fail(`blocks must be a list of 1-${MAX_ENTRIES}`)
      return {
        t: 'blocks',
        blocks: m.blocks.map((b: unknown) => {
          if (!Array.isArray(b) || b.length !== 2) fail('a block is not [cid, bytes]')
          const cid = CID.asCID(b[0]) ?? fail('a block is not [cid, bytes]')
          if (!(b[1] instanceof Uint8Array)) fail('a block is not [cid, bytes]')
          if (b[1].length > MAX_BLOCK_SIZE) fail('a block exceeds the block size limit')
          return { cid, bytes: b[1] }
        })
      }
    }
    case 'zblocks': {
      exact(m, ['t', 'alg', 'size', 'data'])
      if (m.alg !== 'br' && m.alg !== 'gzip') fail('unknown compression')
      if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 1 || m.size > MAX_MESSAGE_BYTES) fail(`size must be an integer from 1 to ${MAX_MESSAGE_BYTES}`)
      if (!(m.data instanceof Uint8Array) || m.data.length === 0) fail('data must be non-empty bytes')
      return { t: 'zblocks', alg: m.alg, size: m.size, data: m.data }
    }
    default:
      fail('unknown message type')
  }
}
