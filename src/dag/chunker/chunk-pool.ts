import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { ChunkWorkerError } from '../../errors.js'
import type { SegmentCuts } from './chunk-cut.js'
import { READY_ID, type CutJob, type CutReply } from './chunk-worker.js'

/** A segment (back from the worker) and the chunks cut and hashed in it from `start`. */
export interface CutResult extends SegmentCuts {
  segment: Uint8Array
  /** Offset in `segment` where the chain of cuts began. */
  start: number
}

/** Workers at most: past a few, the main thread's store writes are the limit, not cutting and hashing. */
const MAX_WORKERS = 4

interface Waiter { resolve: (r: CutResult) => void, reject: (e: Error) => void, job: CutJob }

const workerError = (message: string): ChunkWorkerError => new ChunkWorkerError(message)

/** One worker thread and the jobs it owes replies for; it is ref'd only while it owes any. */
class PoolWorker {
  readonly waiting = new Map<number, Waiter>()
  readonly worker: Worker
  readonly ready: Promise<void>
  isReady = false
  dead = false

  constructor (onDead: (w: PoolWorker) => void) {
    this.worker = new Worker(new URL('./chunk-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 4 } })
    let signalReady = (): void => {}
    let failBoot = (_: Error): void => {}
    this.ready = new Promise<void>((resolve, reject) => { signalReady = resolve; failBoot = reject })
    this.ready.catch(() => {}) // a boot failure is reported to whoever awaits `ready`, and to pending jobs
    this.worker.on('message', (reply: CutReply) => {
      if (reply.id !== READY_ID) {
        this.settle(reply)
        return
      }
      this.isReady = true
      if (this.waiting.size === 0) this.worker.unref()
      signalReady()
    })
    const fail = (err: Error): void => {
      if (this.dead) return
      this.dead = true
      onDead(this)
      const e = workerError(`chunk worker failed: ${err.message}`)
      failBoot(e)
      for (const w of this.waiting.values()) w.reject(e)
      this.waiting.clear()
      void this.worker.terminate()
    }
    this.worker.on('error', fail)
    this.worker.on('messageerror', fail)
    this.worker.on('exit', code => { fail(new Error(`exit code ${code}`)) })
  }

  send (waiter: Waiter): void {
    this.worker.ref()
    this.waiting.set(waiter.job.id, waiter)
    this.worker.postMessage(waiter.job, [waiter.job.buffer])
  }

  private settle (reply: CutReply): void {
    const w = this.waiting.get(reply.id)
    if (w === undefined) return
    this.waiting.delete(reply.id)
    if (this.waiting.size === 0) this.worker.unref()
    if (reply.error !== undefined || reply.buffer === undefined) {
      w.reject(workerError(`chunk worker: ${reply.error ?? 'no buffer in reply'}`))
      return
    }
    const { offset, length, start } = w.job
    w.resolve({ segment: new Uint8Array(reply.buffer, offset, length), start, ends: reply.ends!, cids: reply.cids! })
  }
}

/**
 * Worker threads that cut and hash segments of files, shared by all imports of the process. Workers start on
 * `warm()` and are unref'd while idle (booting included), so they never keep a process alive; a worker that
 * fails rejects the jobs it held and is replaced on the next `warm()`.
 */
export class ChunkPool {
  private readonly workers: PoolWorker[] = []
  private nextId = 0
  readonly size: number

  /** @param size workers; by default one per core but one, which the main thread needs for the store writes */
  constructor (size = Math.min(MAX_WORKERS, availableParallelism() - 1)) {
    this.size = Math.max(1, size)
  }

  /** Whether a worker can take jobs now (until then, callers cut on their own thread). */
  get ready (): boolean {
    return this.workers.some(w => w.isReady)
  }

  /** Start the workers if they are not running; resolves once one is ready, rejects if one fails first. */
  async warm (): Promise<void> {
    while (this.workers.length < this.size) {
      const w = new PoolWorker(dead => {
        const i = this.workers.indexOf(dead)
        if (i >= 0) this.workers.splice(i, 1)
      })
      w.worker.unref()
      this.workers.push(w)
    }
    if (this.ready) return
    await Promise.race(this.workers.map(async w => await w.ready))
  }

  /**
   * Cut `segment` from `start` and hash the chunks on a worker. The segment's ArrayBuffer is transferred
   * (detached here, with every other view of it) until the result hands it back, so it must be the caller's own.
   */
  async cut (segment: Uint8Array, start: number, options: Pick<CutJob, 'chunker' | 'hash'>): Promise<CutResult> {
    if (!(segment.buffer instanceof ArrayBuffer)) throw workerError('a chunk worker segment must be in a transferable ArrayBuffer')
    if (this.workers.length === 0) void this.warm().catch(() => {}) // the job itself reports a failure
    let best = this.workers[0]!
    for (const w of this.workers) {
      if (w.isReady !== best.isReady ? w.isReady : w.waiting.size < best.waiting.size) best = w
    }
    const job: CutJob = { ...options, id: this.nextId++, buffer: segment.buffer, offset: segment.byteOffset, length: segment.length, start }
    return await new Promise<CutResult>((resolve, reject) => { best.send({ resolve, reject, job }) })
  }

  /** Stop every worker (jobs in flight reject). */
  async close (): Promise<void> {
    await Promise.all(this.workers.splice(0).map(async w => await w.worker.terminate()))
  }
}

/** The process-wide pool used by imports. */
export const chunkPool = new ChunkPool()
