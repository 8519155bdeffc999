/**
 * Worker thread running canonical zlib (pako, synchronous JavaScript) over one deflate stream, so neither the
 * main thread's event loop nor the store pass beside a proof waits on it. Started per stream with its settings
 * (workerData); each message is a piece of input, transferred in, answered with the output it made, transferred
 * out. Stateful: one stream per worker, ended by the piece marked last.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Deflate } from 'pako'

/** The worker's settings (workerData). */
export interface CanonicalSettings { level: number, memLevel: number, windowBits: number, strategy: number, chunkSize: number }
export interface DeflatePiece { input: ArrayBuffer, last: boolean }
export interface DeflateReply { chunks?: Uint8Array[], error?: string }

const { level, memLevel, windowBits, strategy, chunkSize } = workerData as CanonicalSettings
const d = new Deflate({ raw: true, level, memLevel, windowBits, strategy: strategy as 0, legacyHash: true, chunkSize })
let out: Uint8Array[] = []
d.onData = chunk => { out.push(chunk) }

parentPort?.on('message', (piece: DeflatePiece) => {
  d.push(new Uint8Array(piece.input), piece.last)
  if (d.err !== 0) {
    parentPort?.postMessage({ error: d.msg } satisfies DeflateReply)
    return
  }
  const chunks = out
  out = []
  // pako's output buffers are fresh for each chunk (or views of one only at the end): transfer whole buffers only
  const whole = chunks.filter(c => c.byteOffset === 0 && c.byteLength === c.buffer.byteLength)
  parentPort?.postMessage({ chunks } satisfies DeflateReply, whole.map(c => c.buffer as ArrayBuffer))
})
