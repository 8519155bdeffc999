import { setImmediate as nextTurn } from 'node:timers/promises'
import { AbortError } from '../../errors.js'
import { cutSegment } from './chunk-cut.js'
import type { ChunkPool, CutResult } from './chunk-pool.js'
import { ChunkResync, type HashedBatch } from './chunk-resync.js'
import { Segmenter } from './chunk-segments.js'
import { FastCdc, type ChunkerOptions } from './fastcdc.js'
import type { BlockHasher } from '../hashing.js'

/** Segments read ahead of the consumer per worker (plus one): bounds memory to about 8 MiB a worker. */
const AHEAD_PER_WORKER = 8
/** Jobs a stream keeps queued at each worker: enough to ride out the main thread's longest store callbacks. */
const DEPTH_PER_WORKER = 6

/** A segment on its way: read, kept for this thread (`here`), at a worker (`sent`), or cut there (`result`). */
interface Entry {
  segment: Uint8Array
  here: boolean
  sent: boolean
  result?: CutResult
  error?: unknown
}

/** A one-shot wake-up: `wait()` resolves on the next `wake()`. */
class Wake {
  private fire: (() => void) | undefined
  async wait (): Promise<void> { await new Promise<void>(resolve => { this.fire = resolve }) }
  wake (): void {
    const f = this.fire
    this.fire = undefined
    f?.()
  }
}

/**
 * Cut and hash a stream with the pool's workers. A pump reads the source into segments and sends each to a
 * worker as soon as one has room (DEPTH_PER_WORKER), so this thread, which also writes the store, is left to
 * join the results in stream order (ChunkResync). It cuts segments itself only while no worker is ready yet
 * (the first few of a process) and where the data repeats. Returning early stops the pump and closes the source.
 */
export async function * cutAndHashParallel (
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  pool: ChunkPool,
  chunker: ChunkerOptions | undefined,
  hasher: BlockHasher,
  signal?: AbortSignal
): AsyncGenerator<HashedBatch> {
  const cdc = new FastCdc(chunker)
  const job = { chunker, hash: hasher.name }
  // where the data repeats (zeros) the chains do not meet and segments are cut here from the true chain, as
  // the sequential path would: a worker round trip per segment would stall the stream
  const resync = new ChunkResync(cdc, hasher, (segment, start) => ({ segment, start, ...cutSegment(cdc, hasher, segment, start) }))
  const ahead = AHEAD_PER_WORKER * pool.size + 1
  const depth = DEPTH_PER_WORKER * pool.size
  const queue: Entry[] = []
  const changed = new Wake()
  const room = new Wake()
  let sent = 0
  let turned = false
  let stopped = false
  let ended = false
  let failure: unknown

  const dispatch = (): void => {
    if (!pool.ready || stopped) return
    for (const e of queue) {
      if (sent >= depth) return
      if (e.here || e.sent || e.result !== undefined) continue
      e.sent = true
      sent++
      pool.cut(e.segment, 0, job).then(r => { e.result = r }, err => { e.error = err }).finally(() => {
        sent--
        dispatch()
        changed.wake()
      })
    }
  }
  pool.warm().then(() => { dispatch(); changed.wake() }, err => { failure ??= err; changed.wake() })
  const onAbort = (): void => { changed.wake() }
  signal?.addEventListener('abort', onAbort, { once: true })

  const pump = (async () => {
    const segmenter = new Segmenter()
    const ready: Uint8Array[] = []
    const add = async (segment: Uint8Array): Promise<boolean> => {
      while (queue.length >= ahead && !stopped) await room.wait()
      if (stopped) return false
      // while the data repeats, segments stay here: a worker's cuts of them would be thrown away
      queue.push({ segment, here: resync.repeating, sent: false })
      dispatch()
      changed.wake()
      return true
    }
    try {
      for await (const input of source) {
        if (signal?.aborted === true) throw new AbortError()
        segmenter.push(input, ready)
        for (const segment of ready) if (!await add(segment)) return // leaving the loop closes the source
        ready.length = 0
      }
      segmenter.end(ready)
      for (const segment of ready) await add(segment)
    } catch (err) {
      failure ??= err
    } finally {
      ended = true
      changed.wake()
    }
  })()

  try {
    for (;;) {
      if (signal?.aborted === true) throw new AbortError()
      if (failure !== undefined) throw failure
      const head = queue[0]
      if (head === undefined) {
        if (ended) break
        await changed.wait()
        continue
      }
      if (head.error !== undefined) throw head.error
      let batch: HashedBatch
      if (head.result !== undefined) {
        batch = resync.segment(head.result)
      } else if (head.sent || (!head.here && pool.ready)) {
        await changed.wait() // at a worker, or about to be sent to one
        continue
      } else if (!head.here && !turned) {
        turned = true // a worker's ready signal may be queued in the event loop: let it land first
        await nextTurn()
        continue
      } else {
        batch = resync.segment(head.segment) // no worker is ready yet, or the data repeats: cut it here
      }
      turned = false
      queue.shift()
      room.wake()
      if (batch.chunks.length > 0) yield batch
    }
    const last = resync.finish()
    if (last.chunks.length > 0) yield last
  } finally {
    stopped = true
    signal?.removeEventListener('abort', onAbort)
    room.wake()
    await pump
  }
}
