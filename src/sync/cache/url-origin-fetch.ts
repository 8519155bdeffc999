/** The community cache's trips to a URL's origin: download, revalidate, and check a member's claim against it. */
import type { IncomingMessage } from 'node:http'
import { importStream } from '../../dag/importer.js'
import { CmeshError, UrlUnavailableError } from '../../errors.js'
import { conditionalHeaders, freshUntil, mergeNotModified, shareability, storedHeaders } from '../../policy/cache/http-cache.js'
import type { Blockstore } from '../../store/interface.js'
import { HIT_FOR_PASS_MS } from './constants.js'
import type { DestinationGuard } from './destination.js'
import type { Outcome } from './outcome.js'
import type { CacheEvent } from './url-cache-interface.js'
import type { UrlEntry } from './url-index.js'
import { drain, originRequest, type OriginResponse } from './url-origin.js'

/** A failure of the connection rather than an answer of ours: a stale copy may then be served. */
const isNetworkError = (err: unknown): boolean => !(err instanceof CmeshError)

/** What a trip to the origin needs of the cache. */
export interface OriginSide {
  store: Blockstore
  /** Where the cache may fetch (checked again on every connection). */
  destinations: DestinationGuard
  /** This node's peer id: the claimant of what it fetched itself. */
  self: string
  maxObjectBytes: number
  /** The eviction policy's inflation now: the base of a new entry's priority. */
  inflation: () => number
  emit: (kind: CacheEvent['kind'], url: string, bytes: number) => void
  /** A stored entry was used (its priority refreshed). */
  touch: (e: UrlEntry) => void
  /** A member's claim was found false. */
  distrust: (peer: string) => void
  /** Keep an entry (and announce it when fetched or confirmed from the origin). */
  keep: (entry: UrlEntry, fromOrigin: boolean) => Promise<UrlEntry>
  /** The URL answered with something not shareable: straight to the origin until `until` (hit-for-pass). */
  pass: (url: string, until: number) => void
}

/** Download (or revalidate `held`) from the origin, store a shareable answer and announce it. */
export async function fromOrigin (side: OriginSide, url: string, held: UrlEntry | undefined, signal?: AbortSignal): Promise<Outcome> {
  let res: OriginResponse
  try {
    res = await originRequest(new URL(url), { headers: held === undefined ? {} : conditionalHeaders(held.headers), signal, guard: side.destinations })
  } catch (err) {
    if (held !== undefined && isNetworkError(err)) {
      side.emit('stale', url, held.size)
      side.touch(held)
      return { entry: held, source: 'local', revalidated: false, stale: true, externalBytes: 0, peerBytes: 0 }
    }
    throw new UrlUnavailableError(url, (err as Error).message, { cause: err })
  }
  const now = Date.now()
  if (res.status === 304 && held !== undefined) {
    await drain(res.body)
    const etag = res.headers.etag
    if (etag === undefined || held.headers.etag === undefined || etag === held.headers.etag) {
      if (held.claimant !== side.self && !await originLengthAgrees(side, url, held.size, signal)) {
        // a member's claim carried the origin's validator with other bytes: it lied; take the origin's own
        side.distrust(held.claimant)
        return await fromOrigin(side, url, undefined, signal)
      }
      const headers = mergeNotModified(held.headers, res.headers)
      // confirmed by the origin: this node now vouches for it itself
      const entry = await side.keep({
        ...held,
        headers,
        claimant: side.self,
        fetchedAt: now,
        freshUntil: freshUntil(headers, now),
        base: side.inflation(),
        lastUsed: now
      }, true)
      side.emit('revalidated', url, 0)
      return { entry, source: 'local', revalidated: true, stale: false, externalBytes: 0, peerBytes: 0 }
    }
    // a 304 naming another validator: the stored response is not the origin's; fetch it whole
    return await fromOrigin(side, url, undefined, signal)
  }
  const length = Number(res.headers['content-length'] ?? NaN)
  if (!shareability('GET', {}, res.status, res.headers).shareable || length > side.maxObjectBytes) {
    if (res.status === 200) side.pass(url, now + HIT_FOR_PASS_MS)
    return { pass: res, source: 'origin', revalidated: false, stale: false, externalBytes: 0, peerBytes: 0 }
  }
  let received = 0
  const counted = async function * (body: IncomingMessage, emit: (n: number) => void): AsyncGenerator<Uint8Array> {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length
      emit(chunk.length)
      yield chunk
    }
  }
  const imported = await importStream(
    side.store,
    counted(res.body, n => { side.emit('external', url, n) }),
    { pin: false, signal, chunkWorker: false }
  )
  if (Number.isFinite(length) && length !== received) throw new UrlUnavailableError(url, `the origin sent ${received} of ${length} bytes`)
  const sameEtag = held?.headers.etag !== undefined && held.headers.etag === res.headers.etag
  if (held !== undefined && held.claimant !== side.self && sameEtag && held.cid !== imported.cid.toString()) {
    // same validator, other bytes: the member that claimed this content lied (or the origin reused an ETag)
    side.distrust(held.claimant)
  }
  const headers = storedHeaders(res.headers)
  const entry = await side.keep({
    url,
    cid: imported.cid.toString(),
    size: received,
    headers,
    fetchedAt: now,
    freshUntil: freshUntil(res.headers, now),
    claimant: side.self,
    cachePinned: false,
    base: side.inflation(),
    lastUsed: now
  }, true)
  return { entry, source: 'origin', revalidated: false, stale: false, externalBytes: received, peerBytes: 0 }
}

/**
 * Content that came from a member is revalidated against the origin's length too (a HEAD: no body): a claim
 * that copied the origin's ETag onto other bytes is caught. True when the origin states no length.
 */
async function originLengthAgrees (side: OriginSide, url: string, size: number, signal?: AbortSignal): Promise<boolean> {
  try {
    const head = await originRequest(new URL(url), { method: 'HEAD', signal, guard: side.destinations })
    await drain(head.body)
    const length = head.headers['content-length']
    return head.status !== 200 || length === undefined || Number(length) === size
  } catch {
    return true // the origin went away between the two requests: judged on the next revalidation
  }
}
