/**
 * Worker thread that finds chunk boundaries for the importer while the main thread hashes and writes the
 * previous input: on a 2-core board both cores work (cutting and hashing cost about the same per byte).
 * Input arrives in SharedArrayBuffers, nothing is copied between threads, and the chunker state of each
 * stream (the bytes after the last cut) lives here between messages.
 */
import { parentPort } from 'node:worker_threads'
import { FastCdc, type ChunkerOptions } from './fastcdc.js'

export interface ChunkRequest {
  id: number
  stream: number
  chunker: ChunkerOptions | undefined
  buffer: SharedArrayBuffer
  offset: number
  length: number
  /** No more input follows: cut the remainder too and forget the stream. */
  final: boolean
}

export interface ChunkReply {
  id: number
  /** The buffer the chunks are views of: the input's, or a joined one when the previous remainder was prepended. */
  buffer?: SharedArrayBuffer
  /** offset, length pairs into `buffer` */
  ranges?: Uint32Array
  error?: string
}

export interface EndRequest { id: -1, stream: number }

interface StreamState { cdc: FastCdc, rest: Uint8Array }
const streams = new Map<number, StreamState>()

function handle (req: ChunkRequest): ChunkReply {
  let state = streams.get(req.stream)
  if (state === undefined) {
    state = { cdc: new FastCdc(req.chunker), rest: new Uint8Array(0) }
    streams.set(req.stream, state)
  }
  const input = new Uint8Array(req.buffer, req.offset, req.length)
  let buf = input
  if (state.rest.length > 0) {
    buf = new Uint8Array(new SharedArrayBuffer(state.rest.length + input.length))
    buf.set(state.rest, 0)
    buf.set(input, state.rest.length)
  }
  const { cdc } = state
  const ranges: number[] = []
  let pos = 0
  while (buf.length - pos >= (req.final ? 1 : cdc.maxSize)) {
    const len = cdc.cut(buf, pos, buf.length)
    ranges.push(buf.byteOffset + pos, len)
    pos += len
  }
  state.rest = buf.subarray(pos)
  if (req.final) streams.delete(req.stream)
  return { id: req.id, buffer: buf.buffer as SharedArrayBuffer, ranges: Uint32Array.from(ranges) }
}

parentPort?.on('message', (req: ChunkRequest | EndRequest) => {
  if (req.id === -1) {
    streams.delete(req.stream)
    return
  }
  let reply: ChunkReply
  try {
    reply = handle(req as ChunkRequest)
  } catch (err) {
    streams.delete(req.stream)
    parentPort!.postMessage({ id: req.id, error: (err as Error).message } satisfies ChunkReply)
    return
  }
  parentPort!.postMessage(reply, [reply.ranges!.buffer as ArrayBuffer])
})
