/**
 * Worker thread that cuts and hashes one segment of a file per job, so the main thread is left with little
 * more than the store writes. Jobs are stateless: a segment's buffer is transferred in and back out (nothing
 * is copied), and the chain of cuts starts at `start` as if a cut were there (chunk-resync.ts joins the
 * chains of consecutive segments into the true sequence).
 */
import { parentPort } from 'node:worker_threads'
import { cutSegment } from './chunk-cut.js'
import { FastCdc, type ChunkerOptions } from './fastcdc.js'
import { getHasher, type HashName } from '../hashing.js'

export interface CutJob {
  id: number
  chunker: ChunkerOptions | undefined
  hash: HashName
  /** Transferred to the worker and back with the reply. */
  buffer: ArrayBuffer
  offset: number
  length: number
  /** Offset in the segment where the chain of cuts begins. */
  start: number
}

/** A job's outcome, or (id -1) the signal that the worker has loaded and can take jobs. */
export interface CutReply {
  id: number
  /** The job's buffer, transferred back. */
  buffer?: ArrayBuffer
  ends?: Uint32Array
  cids?: Uint8Array
  error?: string
}

/** The id of the message a worker sends once it is ready. */
export const READY_ID = -1

const cdcs = new Map<string, FastCdc>()

function chunkerFor (options: ChunkerOptions | undefined): FastCdc {
  const key = JSON.stringify(options ?? {})
  let cdc = cdcs.get(key)
  if (cdc === undefined) {
    cdc = new FastCdc(options)
    cdcs.set(key, cdc)
  }
  return cdc
}

async function run (job: CutJob): Promise<{ reply: CutReply, transfer: ArrayBuffer[] }> {
  const hasher = await getHasher(job.hash) // the main thread's hasher code, so digests match byte for byte
  const { ends, cids } = cutSegment(chunkerFor(job.chunker), hasher, new Uint8Array(job.buffer, job.offset, job.length), job.start)
  return { reply: { id: job.id, buffer: job.buffer, ends, cids }, transfer: [job.buffer, ends.buffer as ArrayBuffer, cids.buffer as ArrayBuffer] }
}

parentPort?.on('message', (job: CutJob) => {
  run(job).then(({ reply, transfer }) => {
    parentPort!.postMessage(reply, transfer)
  }, (err: Error) => {
    parentPort!.postMessage({ id: job.id, buffer: job.buffer, error: err.message } satisfies CutReply, [job.buffer])
  })
})

// load the hash code before saying so: until then the main thread cuts by itself
await Promise.all([getHasher('blake3'), getHasher('sha2-256')])
parentPort?.postMessage({ id: READY_ID } satisfies CutReply)
