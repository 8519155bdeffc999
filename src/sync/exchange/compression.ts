import { promisify } from 'node:util'
import * as zlib from 'node:zlib'
import type { Block } from '../../store/interface.js'
import {
  BROTLI_QUALITY, COMPRESS_SAMPLE_SLICE_BYTES, MAX_COMPRESS_SKIP, COMPRESS_SAMPLE_SLICES, COMPRESSION_ALG, DEFAULT_COMPRESS, GZIP_LEVEL,
  MAX_MESSAGE_BYTES, MIN_COMPRESS_BYTES, MIN_COMPRESSION_GAIN, ZLIB_CHUNK_BYTES
} from './constants.js'
import { decodeMessage, encodeBinaryBlocks, encodeMessage, ProtocolError, type CompressionAlg, type Message } from './wire.js'

// zlib's asynchronous calls run on libuv's thread pool: a 1 MiB batch costs the event loop nothing, and
// answers to several peers compress on several cores (bench:compression measured them as fast as the sync calls)
const brotliCompress = promisify(zlib.brotliCompress)
const brotliDecompress = promisify(zlib.brotliDecompress)
const gzip = promisify(zlib.gzip)
const gunzip = promisify(zlib.gunzip)

export type BlocksMessage = Extract<Message, { t: 'blocks' }>
export type ZBlocksMessage = Extract<Message, { t: 'zblocks' }>

export interface PackOptions {
  /** Compress when that pays; false always sends a plain blocks message. @default true (DEFAULT_COMPRESS) */
  compress?: boolean
  /** Compression to use. @default COMPRESSION_ALG ('br') */
  alg?: CompressionAlg
  /** Block bytes in a binary blocks message (/cmesh/blocks/1.1.0), not a DAG-CBOR one (1.0.0). @default true */
  binary?: boolean
  /** Verdicts of earlier messages to the same peer: after samples that did not pay, messages go plain untried. */
  gate?: CompressionGate
}

/**
 * Whether the messages to one peer are worth a compression sample: each sample that does not pay doubles the number
 * of messages then sent plain untried (up to MAX_COMPRESS_SKIP); a message whose compression pays resets it.
 */
export class CompressionGate {
  private skip = 0
  private backoff = 0

  /** Whether the next message should be tried; false uses up one message of the skip. */
  shouldTry (): boolean {
    if (this.skip === 0) return true
    this.skip--
    return false
  }

  /** A tried message's verdict. */
  record (paid: boolean): void {
    if (paid) {
      this.backoff = 0
    } else {
      this.backoff = Math.min(MAX_COMPRESS_SKIP, Math.max(1, this.backoff * 2))
      this.skip = this.backoff
    }
  }
}

/** Compress `bytes` with `alg` at the level set in constants.ts. */
export async function compress (alg: CompressionAlg, bytes: Uint8Array): Promise<Uint8Array> {
  if (alg === 'br') {
    const params = { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length }
    return await brotliCompress(bytes, { chunkSize: ZLIB_CHUNK_BYTES, params })
  }
  return await gzip(bytes, { chunkSize: ZLIB_CHUNK_BYTES, level: GZIP_LEVEL })
}

/**
 * Decompress a peer's `data`, which it says inflates to exactly `size` bytes. zlib gives up as soon as the output
 * passes `size` (having inflated at most one output chunk more), so a few bytes cannot inflate into gigabytes.
 * Corrupt input, and output of any length but `size`, is a ProtocolError.
 */
export async function decompress (alg: CompressionAlg, data: Uint8Array, size: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_MESSAGE_BYTES) throw new ProtocolError(`declared size ${size} is outside 1-${MAX_MESSAGE_BYTES}`)
  const options = { maxOutputLength: size, chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, Math.min(size, ZLIB_CHUNK_BYTES)) }
  let out: Uint8Array
  try {
    out = alg === 'br' ? await brotliDecompress(data, options) : await gunzip(data, options)
  } catch (err) {
    throw new ProtocolError(`compressed payload does not inflate to its declared ${size} bytes (${(err as Error).message})`)
  }
  if (out.length !== size) throw new ProtocolError(`compressed payload inflates to ${out.length} bytes, not the declared ${size}`)
  return out
}

/** Evenly spread slices of a large message, or the message itself when it is no larger than the sample. */
function sampleOf (plain: Uint8Array): Uint8Array {
  const total = COMPRESS_SAMPLE_SLICES * COMPRESS_SAMPLE_SLICE_BYTES
  if (plain.length <= total) return plain
  const sample = new Uint8Array(total)
  const step = (plain.length - COMPRESS_SAMPLE_SLICE_BYTES) / (COMPRESS_SAMPLE_SLICES - 1)
  for (let i = 0; i < COMPRESS_SAMPLE_SLICES; i++) {
    const at = Math.floor(i * step)
    sample.set(plain.subarray(at, at + COMPRESS_SAMPLE_SLICE_BYTES), i * COMPRESS_SAMPLE_SLICE_BYTES)
  }
  return sample
}

/**
 * The frame payload that carries `blocks`: a zblocks message when compression saves at least MIN_COMPRESSION_GAIN
 * of the bytes, else the plain blocks message. A sample of a large message is compressed first, so incompressible
 * data (media, archives, packed binaries) costs a sample's compression, not a whole message's.
 */
export async function packBlocks (blocks: Block[], options: PackOptions = {}): Promise<Uint8Array> {
  return await packMessage(options.binary === false ? encodeMessage({ t: 'blocks', blocks }) : encodeBinaryBlocks(blocks), options)
}

/** An encoded blocks message (`plain`) as packBlocks sends it: compressed when that pays, else as it is. */
export async function packMessage (plain: Uint8Array, options: Omit<PackOptions, 'binary'> = {}): Promise<Uint8Array> {
  if (!(options.compress ?? DEFAULT_COMPRESS) || plain.length < MIN_COMPRESS_BYTES) return plain
  const { gate } = options
  if (gate?.shouldTry() === false) return plain
  const alg = options.alg ?? COMPRESSION_ALG
  const pays = (packed: number, original: number): boolean => packed <= original * (1 - MIN_COMPRESSION_GAIN)
  const sample = sampleOf(plain)
  if (sample !== plain && !pays((await compress(alg, sample)).length, sample.length)) {
    gate?.record(false)
    return plain
  }
  const packed = encodeMessage({ t: 'zblocks', alg, size: plain.length, data: await compress(alg, plain) })
  const paid = pays(packed.length, plain.length)
  gate?.record(paid)
  return paid ? packed : plain
}

/** The blocks message inside a zblocks: inflated within its declared size, then decoded as strictly as any message. */
export async function unpackBlocks (m: ZBlocksMessage): Promise<BlocksMessage> {
  const inner = decodeMessage(await decompress(m.alg, m.data, m.size))
  if (inner.t !== 'blocks') throw new ProtocolError(`a zblocks message holds a ${inner.t} message, not blocks`)
  return inner
}
