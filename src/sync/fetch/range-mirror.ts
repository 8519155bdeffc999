import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import type { ChunkLocation } from '../../dag/locations.js'
import { AbortError, InvalidOptionError, MirrorError } from '../../errors.js'
import type { Block } from '../../store/interface.js'
import { MIRROR_CONCURRENCY, MIRROR_MAX_GAP, MIRROR_MAX_RANGE, MIRROR_STALL_TIMEOUT_MS } from './constants.js'
import type { BlockAnswer, BlockSource } from './fetcher.js'
import { planRanges, type PlannedChunk, type PlannedRange } from './range-plan.js'

export interface RangeMirrorOptions {
  /** Name of the source in fetch reports. @default the base URL */
  id?: string
  /** Bytes between wanted chunks of a file downloaded and discarded to merge two ranges. @default MIRROR_MAX_GAP (64 KiB) */
  maxGap?: number
  /** Largest range in one HTTP request, and the most read of a file from a server that ignores Range. @default MIRROR_MAX_RANGE (8 MiB) */
  maxRange?: number
  /** HTTP requests in flight to this mirror at once, across all fetcher requests. @default MIRROR_CONCURRENCY (4) */
  concurrency?: number
  /** Abort an HTTP request that sends no headers, or no body bytes, for this long. @default MIRROR_STALL_TIMEOUT_MS (5000) */
  stallTimeoutMs?: number
}

export interface RangeMirrorStats {
  /** HTTP requests sent. */
  requests: number
  /** Body bytes received: chunks, gap bytes and bytes read then discarded. */
  bytes: number
  /** Chunks handed to the fetcher. */
  blocks: number
  /** Fetcher requests that failed (HTTP error, wrong Content-Range, stall, network error). */
  failures: number
  /** The server answered a range request with the whole file: files are now read from their start. */
  ignoresRanges: boolean
  /** Times the fetcher found a chunk from this mirror that did not match its CID. */
  misbehaved: number
  /** Trust in this mirror, 0..1: halved if it ignores Range, ×0.1 per bad chunk, ×0.8 per failure in a row. */
  score: number
  /** The last failure or misbehaviour, for reports. */
  lastError?: string
}

/** A plain web server holding a release's original files, as a block source. */
export interface RangeMirrorSource extends BlockSource {
  readonly kind: 'mirror'
  /** Counters a benchmark or a mirror list reads (requests per MiB, score). */
  readonly stats: RangeMirrorStats
}

/** Score kept by a mirror that ignores Range: it costs a file's prefix per request. */
const IGNORES_RANGES_FACTOR = 0.5
/** Score kept per chunk that did not match its CID. */
const MISBEHAVED_FACTOR = 0.1
/** Score kept per failed request in a row (a success ends the row). */
const FAILURE_FACTOR = 0.8

type Acquire = (signal: AbortSignal) => Promise<() => void>

/** At most `n` holders at once; waiters leave the queue when their signal aborts. */
function slots (n: number): Acquire {
  let free = n
  const waiting: Array<() => void> = []
  return async signal => {
    if (signal.aborted) throw new AbortError()
    if (free > 0) {
      free--
    } else {
      await new Promise<void>((resolve, reject) => {
        const go = (): void => { signal.removeEventListener('abort', stop); resolve() }
        const stop = (): void => {
          const i = waiting.indexOf(go)
          if (i >= 0) waiting.splice(i, 1)
          reject(new AbortError())
        }
        waiting.push(go)
        signal.addEventListener('abort', stop, { once: true })
      })
    }
    let released = false
    return () => {
      if (released) return
      released = true
      const next = waiting.shift()
      if (next !== undefined) next() // the slot passes straight to the next waiter
      else free++
    }
  }
}

/** Copies chunks out of a body as it streams past, so no more than the wanted bytes are ever held. */
class ChunkSlicer {
  readonly blocks: Block[] = []
  private next = 0
  private readonly buffers: Array<Uint8Array | undefined>
  private readonly filled: number[]

  constructor (readonly chunks: PlannedChunk[]) {
    this.buffers = chunks.map(() => undefined)
    this.filled = chunks.map(() => 0)
  }

  /** Body bytes that start at file offset `at`. */
  feed (bytes: Uint8Array, at: number): void {
    const end = at + bytes.length
    for (let i = this.next; i < this.chunks.length; i++) {
      const c = this.chunks[i]!
      if (c.offset >= end) break
      if (this.filled[i] === c.length) continue
      const from = Math.max(at, c.offset)
      const to = Math.min(end, c.offset + c.length)
      if (to <= from) continue
      const buf = this.buffers[i] ??= new Uint8Array(c.length)
      buf.set(bytes.subarray(from - at, to - at), from - c.offset)
      this.filled[i]! += to - from
      if (this.filled[i] === c.length) {
        this.blocks.push({ cid: c.cid, bytes: buf })
        this.buffers[i] = undefined
      }
    }
    while (this.next < this.chunks.length && this.filled[this.next] === this.chunks[this.next]!.length) this.next++
  }

  /** Chunks the body did not reach. */
  incomplete (): CID[] {
    return this.chunks.filter((c, i) => this.filled[i] !== c.length).map(c => c.cid)
  }
}

function positive (name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${value}`)
  return value
}

function errorText (err: unknown): string {
  const e = err as Error & { cause?: Error }
  return e.cause?.message !== undefined ? `${e.message} (${e.cause.message})` : e.message
}

/**
 * A plain web server holding a release's original files (`{baseUrl}/{path}`, or `baseUrl` itself for a file
 * root) as a block source: wanted chunks are looked up in `locations`, grouped by file, and coalesced into
 * few `Range:` requests. Its bytes are untrusted; the fetcher verifies every chunk against its CID.
 *
 * Faults: 404/410/416 answer the chunks as missing; other HTTP errors, a 206 with another Content-Range, a
 * stall and network errors fail the request with ERR_MIRROR. A server that ignores Range (200 to a range
 * starting past byte 0) is remembered and scored down; from then on each request reads each file it needs
 * once, from its start, up to `maxRange` bytes, and chunks beyond that are answered missing so that peers
 * serve them (reading a large file from its start for every batch would cost its size squared).
 */
export function rangeMirrorSource (baseUrl: string, locations: Map<string, ChunkLocation>, init: RangeMirrorOptions = {}): RangeMirrorSource {
  let parsed: URL
  try {
    parsed = new URL(baseUrl)
  } catch {
    throw new InvalidOptionError(`mirror URL ${JSON.stringify(baseUrl)} is not a URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InvalidOptionError(`mirror URL ${baseUrl} is not http or https`)
  const maxGap = positive('maxGap', init.maxGap ?? MIRROR_MAX_GAP, 0)
  const maxRange = positive('maxRange', init.maxRange ?? MIRROR_MAX_RANGE, 1)
  const stallMs = positive('stallTimeoutMs', init.stallTimeoutMs ?? MIRROR_STALL_TIMEOUT_MS, 1)
  const acquire = slots(positive('concurrency', init.concurrency ?? MIRROR_CONCURRENCY, 1))
  const base = baseUrl.replace(/\/+$/, '')
  const urlOf = (path: string): string => path === '' ? baseUrl : `${base}/${path.split('/').map(encodeURIComponent).join('/')}`

  const stats: RangeMirrorStats = { requests: 0, bytes: 0, blocks: 0, failures: 0, ignoresRanges: false, misbehaved: 0, score: 1 }
  let failuresInRow = 0
  const rescore = (): void => {
    stats.score = (stats.ignoresRanges ? IGNORES_RANGES_FACTOR : 1) * MISBEHAVED_FACTOR ** stats.misbehaved * FAILURE_FACTOR ** failuresInRow
  }

  /** One HTTP request for one planned range: the chunks it delivered and those the server does not have. */
  const readRange = async (range: PlannedRange, signal: AbortSignal, caller?: AbortSignal): Promise<{ blocks: Block[], missing: CID[], wire: number }> => {
    const release = await acquire(signal)
    const url = urlOf(range.path)
    const http = new AbortController()
    let status: number | undefined
    let timer: NodeJS.Timeout | undefined
    const arm = (what: string): void => {
      clearTimeout(timer)
      timer = setTimeout(() => http.abort(new MirrorError(url, `${what} for ${stallMs} ms`, { status })), stallMs)
    }
    const failed = (err: unknown): Error => {
      if (caller?.aborted === true) return new AbortError()
      if (http.signal.reason instanceof MirrorError) return http.signal.reason // the stall timer fired
      if (err instanceof MirrorError || err instanceof AbortError) return err
      if (signal.aborted) return new AbortError() // another range of the same request failed first
      return new MirrorError(url, errorText(err), { status, cause: err })
    }
    let wire = 0
    try {
      stats.requests++
      arm('no response headers')
      let res: Response
      try {
        res = await fetch(url, {
          // identity: offsets are into the file itself, never into a compressed rendition of it
          headers: { range: `bytes=${range.start}-${range.end - 1}`, 'accept-encoding': 'identity' },
          signal: AbortSignal.any([signal, http.signal])
        })
      } catch (err) {
        throw failed(err)
      }
      status = res.status
      const refuse = async (message: string): Promise<never> => {
        await res.body?.cancel().catch(() => {})
        throw new MirrorError(url, message, { status })
      }
      if (status === 404 || status === 410 || status === 416) {
        await res.body?.cancel().catch(() => {})
        return { blocks: [], missing: range.chunks.map(c => c.cid), wire }
      }
      if (status !== 200 && status !== 206) return await refuse(`HTTP ${status}`)
      const encoding = res.headers.get('content-encoding')
      if (encoding !== null && encoding.toLowerCase() !== 'identity') return await refuse(`body is ${encoding}-encoded`)
      let chunks = range.chunks
      const missing: CID[] = []
      let bodyStart = range.start
      if (status === 206) {
        const got = res.headers.get('content-range') ?? ''
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(got.trim())
        if (m === null || Number(m[1]) !== range.start || Number(m[2]) !== range.end - 1) {
          return await refuse(`asked for bytes ${range.start}-${range.end - 1}, got Content-Range ${JSON.stringify(got)}`)
        }
      } else {
        // the whole file from byte 0: read only as far as the last wanted byte (within maxRange), then hang up
        bodyStart = 0
        if (range.start > 0 && !stats.ignoresRanges) {
          stats.ignoresRanges = true
          stats.lastError = `${url}: answered a range request with the whole file`
          rescore()
        }
        chunks = range.chunks.filter(c => c.offset + c.length <= maxRange)
        for (const c of range.chunks) if (c.offset + c.length > maxRange) missing.push(c.cid)
      }
      const stopAt = chunks.reduce((m, c) => Math.max(m, c.offset + c.length), 0)
      const slicer = new ChunkSlicer(chunks)
      let pos = bodyStart
      if (res.body === null) return await refuse('no body')
      const reader = res.body.getReader()
      try {
        arm('no body bytes')
        while (pos < stopAt) {
          let read: Awaited<ReturnType<typeof reader.read>>
          try {
            read = await reader.read()
          } catch (err) {
            throw failed(err)
          }
          if (read.done) break
          arm('no body bytes')
          wire += read.value.length
          stats.bytes += read.value.length
          slicer.feed(read.value, pos)
          pos += read.value.length
        }
      } finally {
        // stop at the expected length: a longer body is never read, let alone buffered
        await reader.cancel().catch(() => {})
      }
      if (pos < stopAt && status === 206) throw new MirrorError(url, `body ended at byte ${pos} of ${range.start}-${range.end - 1}`, { status })
      // a 200 body shorter than expected: the mirror's file is not this release's, and lacks those chunks
      missing.push(...slicer.incomplete())
      return { blocks: slicer.blocks, missing, wire }
    } finally {
      clearTimeout(timer)
      http.abort()
      release()
    }
  }

  return {
    id: init.id ?? baseUrl,
    kind: 'mirror',
    stats,
    async request (cids: CID[], options: { signal?: AbortSignal } = {}): Promise<BlockAnswer> {
      const blocks: Block[] = []
      const missing: CID[] = []
      const wanted: PlannedChunk[] = []
      for (const cid of cids) {
        const at = locations.get(cidKey(cid))
        if (at === undefined) missing.push(cid)
        else if (at.length === 0) blocks.push({ cid, bytes: new Uint8Array(0) }) // an empty file needs no request
        else wanted.push({ cid, path: at.path, offset: at.offset, length: at.length })
      }
      const plan = planRanges(wanted, { maxGap, maxRange, fromStart: stats.ignoresRanges })
      for (const c of plan.beyond) missing.push(c.cid)
      // one failed range fails the request: the others are cancelled rather than waited for
      const stop = new AbortController()
      const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
      let failure: Error | undefined
      const answers = await Promise.all(plan.ranges.map(async range => await readRange(range, signal, options.signal).catch((err: Error) => {
        failure ??= err
        stop.abort()
        return undefined
      })))
      if (options.signal?.aborted === true) throw new AbortError()
      if (failure !== undefined) {
        stats.failures++
        failuresInRow++
        stats.lastError = failure.message
        rescore()
        throw failure
      }
      let wireBytes = 0
      for (const a of answers) {
        if (a === undefined) continue
        for (const b of a.blocks) blocks.push(b)
        for (const c of a.missing) missing.push(c)
        wireBytes += a.wire
      }
      stats.blocks += blocks.length
      failuresInRow = 0
      rescore()
      return { blocks, missing, wireBytes }
    },
    async haves (cids: CID[]): Promise<CID[]> {
      // no request: the mirror is assumed to hold every file of the release (a 404 later says otherwise)
      return cids.filter(c => locations.has(cidKey(c)))
    },
    misbehaved (reason: string): void {
      stats.misbehaved++
      stats.lastError = reason
      rescore()
    }
  }
}
