import * as dagCbor from '@ipld/dag-cbor'
import { equals } from 'multiformats/bytes'
import { CID } from 'multiformats/cid'
import { decodeCanonical } from '../../store/links.js'
import { CmeshError } from '../../errors.js'
import { MAX_BLOCK_SIZE } from '../../dag/constants.js'
import { MAX_ENTRIES, MAX_MESSAGE_BYTES, type CompressionAlg } from './constants.js'

/**
 * Messages of the block protocol, each one frame behind a varint length prefix. Every message but block bytes is a
 * DAG-CBOR map:
 *   { t: 'want', cids: [cid, ...], blocks: bool }   ask for blocks (or, with blocks: false, only whether they are had)
 *   { t: 'cancel', cids: [cid, ...] }               no longer wanted
 *   { t: 'have', cids: [cid, ...] }                 the sender holds these
 *   { t: 'dont-have', cids: [cid, ...] }            the sender does not
 *   { t: 'blocks', blocks: [[cid, bytes], ...] }    block bytes (the receiver verifies each against its CID)
 *   { t: 'zblocks', alg: 'br' | 'gzip', size: int, data: bytes }
 *                                                   a compressed blocks message: `data` decompresses (brotli or
 *                                                   gzip) to exactly `size` bytes, the complete DAG-CBOR encoding
 *                                                   of one `blocks` message as above (never another zblocks)
 * Block bytes travel in a binary blocks message on /cmesh/blocks/1.1.0 (and as the CBOR `blocks` map above to a
 * /cmesh/blocks/1.0.0 peer), which is not CBOR, so its bytes are sliced out of the frame, not decoded:
 *   0x00                                            the message type (a CBOR message starts with a map, 0xa0-0xbf)
 *   varint n                                        1 to MAX_ENTRIES blocks
 *   n x (varint cidLength, cid, varint size)        each block's CID (1 to MAX_CID_BYTES) and length (to MAX_BLOCK_SIZE)
 *   the n blocks' bytes back to back                the frame ends where the last block does
 * Varints are unsigned LEB128 in their shortest form. Both forms decode to the same `blocks` message.
 * Decoding is strict: canonical DAG-CBOR only, exact fields, at most MAX_ENTRIES entries, blocks within the limit,
 * a zblocks `size` from 1 to MAX_MESSAGE_BYTES; a binary message with a long varint, a CID with bytes left over, or
 * a length that does not add up to the frame is refused. Decompressing a zblocks (src/sync/exchange/compression.ts) is a separate,
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
  if (bytes[0] === BINARY_BLOCKS) return decodeBinaryBlocks(bytes)
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

/** First byte of a binary blocks message. */
const BINARY_BLOCKS = 0x00
/** Longest CID in a binary blocks message: a CIDv1 with a 64-byte digest and long codes fits many times over. */
export const MAX_CID_BYTES = 128
/** Bytes of a varint for values below 2^28 (every count and length of a message). */
const MAX_VARINT_BYTES = 4

function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 128); len++ }
  return len
}

function writeVarint (out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  out[at++] = n
  return at
}

/**
 * A binary blocks message: one buffer with the header, then each block's bytes copied once behind it. Refuses an
 * empty list, more than MAX_ENTRIES blocks, a block over MAX_BLOCK_SIZE and a message over MAX_MESSAGE_BYTES.
 */
export function encodeBinaryBlocks (blocks: Array<{ cid: CID, bytes: Uint8Array }>): Uint8Array {
  return encodeBinaryBlocksFrom(blocks.map(b => ({ cid: b.cid, size: b.bytes.length })), (i, out, at) => {
    out.set(blocks[i]!.bytes, at)
    return blocks[i]!.bytes.length
  })
}

/**
 * A binary blocks message of blocks known by CID and size, whose bytes `copy` writes into the message itself (a
 * block store copies them straight from its map: no buffer per block). `copy` returns the bytes it wrote, which
 * must be the size given. The same refusals as encodeBinaryBlocks.
 */
export function encodeBinaryBlocksFrom (heads: Array<{ cid: CID, size: number }>, copy: (index: number, out: Uint8Array, at: number) => number): Uint8Array {
  if (heads.length === 0 || heads.length > MAX_ENTRIES) throw new ProtocolError(`a blocks message carries 1-${MAX_ENTRIES} blocks, not ${heads.length}`)
  let size = 1 + varintLength(heads.length)
  for (const h of heads) {
    if (h.size > MAX_BLOCK_SIZE) throw new ProtocolError(`a block of ${h.size} bytes exceeds the block size limit`)
    size += varintLength(h.cid.bytes.length) + h.cid.bytes.length + varintLength(h.size) + h.size
  }
  if (size > MAX_MESSAGE_BYTES) throw new ProtocolError(`message of ${size} bytes exceeds ${MAX_MESSAGE_BYTES}`)
  const out = new Uint8Array(size)
  out[0] = BINARY_BLOCKS
  let at = writeVarint(out, 1, heads.length)
  for (const h of heads) {
    at = writeVarint(out, at, h.cid.bytes.length)
    out.set(h.cid.bytes, at)
    at = writeVarint(out, at + h.cid.bytes.length, h.size)
  }
  for (let i = 0; i < heads.length; i++) {
    const wrote = copy(i, out, at)
    if (wrote !== heads[i]!.size) throw new RangeError(`block ${heads[i]!.cid} is ${wrote} bytes, not the ${heads[i]!.size} its entry says`)
    at += wrote
  }
  return out
}

/** Whether `bytes` is a binary blocks message (else it is CBOR): its blocks' bytes are views, its CIDs copies. */
export function isBinaryBlocks (bytes: Uint8Array): boolean {
  return bytes[0] === BINARY_BLOCKS
}

/** Read the binary blocks message in `bytes`: its blocks are views into `bytes`, not copies; its CIDs are copies. */
function decodeBinaryBlocks (bytes: Uint8Array): Message {
  let at = 1
  const varint = (what: string, max: number): number => {
    let n = 0
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (at >= bytes.length) fail(`binary blocks: ${what} runs past the end`)
      const b = bytes[at++]!
      n += (b & 0x7f) * 2 ** (7 * i)
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) fail(`binary blocks: ${what} is not in its shortest form`)
        if (n > max) fail(`binary blocks: ${what} ${n} exceeds ${max}`)
        return n
      }
    }
    fail(`binary blocks: ${what} is longer than ${MAX_VARINT_BYTES} bytes`)
  }
  const count = varint('the block count', MAX_ENTRIES)
  if (count === 0) fail(`blocks must be a list of 1-${MAX_ENTRIES}`)
  const heads: Array<{ cid: CID, size: number }> = []
  let total = 0
  for (let i = 0; i < count; i++) {
    const cidLength = varint('a CID length', MAX_CID_BYTES)
    if (cidLength === 0 || at + cidLength > bytes.length) fail('binary blocks: a CID runs past the end')
    let cid: CID
    try {
      // decoded from a copy: a CID outlives its message (want lists, holders), and a view would keep the whole
      // frame alive, or read another message's bytes once a pooled frame is used again (frame-pool.ts)
      cid = CID.decode(bytes.slice(at, at + cidLength))
    } catch (err) {
      fail(`binary blocks: an entry is not a CID (${(err as Error).message})`)
    }
    // multiformats also reads some non-canonical forms (00 <codec> <multihash> as a CIDv0): one CID, one encoding
    if (!equals(cid.bytes, bytes.subarray(at, at + cidLength))) fail('binary blocks: a CID is not in its canonical form')
    at += cidLength
    const size = varint('a block length', MAX_BLOCK_SIZE)
    total += size
    heads.push({ cid, size })
  }
  if (at + total !== bytes.length) fail(`binary blocks: the blocks' lengths add up to ${total} bytes, the message holds ${bytes.length - at}`)
  return {
    t: 'blocks',
    blocks: heads.map(h => {
      const block = { cid: h.cid, bytes: bytes.subarray(at, at + h.size) }
      at += h.size
      return block
    })
  }
}
