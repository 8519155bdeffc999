import { Worker } from 'node:worker_threads'
import { CmeshError } from '../errors.js'
import type { ChunkReply, ChunkRequest, EndRequest } from './chunk-worker.js'
import type { ChunkerOptions } from './fastcdc.js'

interface Waiter { resolve: (chunks: Uint8Array[]) => void, reject: (e: Error) => void }

/**
 * Cuts file streams into chunks on one worker thread (on a 2-core board the main thread hashes and writes to
 * LMDB meanwhile). The worker is unref'd while idle, so it never keeps a process alive.
 */
export class ChunkPool {
  private worker: Worker | undefined
  private nextId = 0
  private nextStream = 0
  private readonly waiting = new Map<number, Waiter>()

  private start (): Worker {
    if (this.worker !== undefined) return this.worker
    const worker = new Worker(new URL('./chunk-worker.js', import.meta.url))
    worker.unref()
    worker.on('message', (reply: ChunkReply) => {
      const w = this.waiting.get(reply.id)
      if (w === undefined) return
      this.waiting.delete(reply.id)
      if (this.waiting.size === 0) worker.unref()
      if (reply.error !== undefined) {
        w.reject(new CmeshError('ERR_CHUNK_WORKER', reply.error))
        return
      }
      const view = new Uint8Array(reply.buffer!)
      const ranges = reply.ranges!
      const chunks: Uint8Array[] = []
      for (let i = 0; i < ranges.length; i += 2) chunks.push(view.subarray(ranges[i]!, ranges[i]! + ranges[i + 1]!))
      w.resolve(chunks)
    })
    const fail = (err: Error): void => {
      for (const w of this.waiting.values()) w.reject(new CmeshError('ERR_CHUNK_WORKER', `chunk worker failed: ${err.message}`))
      this.waiting.clear()
      this.worker = undefined
    }
    worker.on('error', fail)
    worker.on('exit', code => { if (code !== 0) fail(new Error(`exit code ${code}`)) })
    this.worker = worker
    return worker
  }

  /** A new stream: its inputs are cut as one continuous file. */
  openStream (chunker: ChunkerOptions | undefined): ChunkStream {
    return new ChunkStream(this, this.nextStream++, chunker)
  }

  /** @internal */
  async send (req: Omit<ChunkRequest, 'id'>): Promise<Uint8Array[]> {
    const worker = this.start()
    const id = this.nextId++
    worker.ref()
    return await new Promise<Uint8Array[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.postMessage({ ...req, id } satisfies ChunkRequest)
    })
  }

  /** @internal */
  end (stream: number): void {
    this.worker?.postMessage({ id: -1, stream } satisfies EndRequest)
  }

  async close (): Promise<void> {
    const w = this.worker
    this.worker = undefined
    if (w !== undefined) await w.terminate()
  }
}

/** One file's content on its way through the worker; inputs must be views of SharedArrayBuffers. */
export class ChunkStream {
  private done = false
  constructor (private readonly pool: ChunkPool, private readonly id: number, private readonly chunker: ChunkerOptions | undefined) {}

  /** Queue input; resolves to the chunks it completed. Calls resolve in the order they were made. */
  async push (input: Uint8Array, final = false): Promise<Uint8Array[]> {
    if (final) this.done = true
    return await this.pool.send({ stream: this.id, chunker: this.chunker, buffer: input.buffer as SharedArrayBuffer, offset: input.byteOffset, length: input.byteLength, final })
  }

  /** Drop the worker's state of an unfinished stream (after an error or abort). */
  abandon (): void {
    if (!this.done) this.pool.end(this.id)
    this.done = true
  }
}

/** The process-wide pool used by imports. */
export const chunkPool = new ChunkPool()
