import { HEURISTIC_FRACTION, HEURISTIC_MAX_MS, STORED_HEADERS } from './constants.js'

/**
 * HTTP caching rules (RFC 9111) as a shared cache applies them: which responses may be stored and shared with
 * the community, how long one stays fresh, and the conditional request that revalidates it. Pure functions of
 * header maps (lower-case names), so proxies, the node and tests use the same rules.
 */

export type Headers = Record<string, string | undefined>

/** Cache-Control directives, lower-cased; a directive without a value maps to ''. */
export function parseCacheControl (value: string | undefined): Map<string, string> {
  const out = new Map<string, string>()
  if (value === undefined) return out
  for (const part of value.split(',')) {
    const [name, ...rest] = part.split('=')
    const key = name!.trim().toLowerCase()
    if (key === '') continue
    out.set(key, rest.join('=').trim().replace(/^"(.*)"$/, '$1'))
  }
  return out
}

function seconds (v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  return Number(v)
}

function httpDate (v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : t
}

export interface Shareability {
  /** The response may be stored and shared with the community. */
  shareable: boolean
  /** Why not, when it may not. */
  reason?: string
}

/**
 * May a response be stored by the community cache and served to other members? Stricter than RFC 9111 for a
 * shared cache: a request with credentials (Authorization, Cookie) is never shared, even when the response says
 * `public` (a neighbour's account must not leak through the cache); nor a response that sets a cookie, says
 * `private` or `no-store`, varies on anything but Accept-Encoding, or is not a 200 with a body.
 */
export function shareability (method: string, request: Headers, status: number, response: Headers): Shareability {
  if (method !== 'GET') return { shareable: false, reason: `method ${method}` }
  if (request.authorization !== undefined) return { shareable: false, reason: 'request carries Authorization' }
  if (request.cookie !== undefined) return { shareable: false, reason: 'request carries a Cookie' }
  const req = parseCacheControl(request['cache-control'])
  if (req.has('no-store')) return { shareable: false, reason: 'request says no-store' }
  if (status !== 200) return { shareable: false, reason: `status ${status}` }
  if (response['set-cookie'] !== undefined) return { shareable: false, reason: 'response sets a cookie' }
  const cc = parseCacheControl(response['cache-control'])
  if (cc.has('no-store')) return { shareable: false, reason: 'response says no-store' }
  if (cc.has('private')) return { shareable: false, reason: 'response says private' }
  const vary = (response.vary ?? '').split(',').map(v => v.trim().toLowerCase()).filter(v => v !== '')
  if (vary.some(v => v !== 'accept-encoding')) return { shareable: false, reason: `response varies on ${vary.join(', ')}` }
  return { shareable: true }
}

/** A request is private (bypasses the community cache both ways) when it carries credentials. */
export function isPrivateRequest (request: Headers): boolean {
  return request.authorization !== undefined || request.cookie !== undefined
}

/**
 * How long a response stays fresh, in ms (RFC 9111 §4.2.1 for a shared cache): s-maxage, else max-age, else
 * Expires minus Date, else 10 % of Date minus Last-Modified (capped), else 0 (stale at once: served only after
 * revalidation, or when the origin cannot be reached). `no-cache` makes it 0 too.
 */
export function freshnessLifetime (response: Headers, receivedAt: number): number {
  const cc = parseCacheControl(response['cache-control'])
  if (cc.has('no-cache')) return 0
  const s = seconds(cc.get('s-maxage')) ?? seconds(cc.get('max-age'))
  if (s !== undefined) return s * 1000
  const date = httpDate(response.date) ?? receivedAt
  if (response.expires !== undefined) {
    const expires = httpDate(response.expires)
    return expires === undefined ? 0 : Math.max(0, expires - date) // an invalid Expires means already expired
  }
  const lastModified = httpDate(response['last-modified'])
  if (lastModified !== undefined && lastModified < date) return Math.min(HEURISTIC_MAX_MS, Math.floor((date - lastModified) * HEURISTIC_FRACTION))
  return 0
}

/** Age the response already had when it was received (RFC 9111 §4.2.3: the Age header or Date's apparent age). */
export function initialAge (response: Headers, receivedAt: number): number {
  const ageHeader = (seconds(response.age) ?? 0) * 1000
  const date = httpDate(response.date)
  const apparent = date === undefined ? 0 : Math.max(0, receivedAt - date)
  return Math.max(ageHeader, apparent)
}

/** When a response received at `receivedAt` stops being fresh (ms since the epoch). */
export function freshUntil (response: Headers, receivedAt: number): number {
  return receivedAt + freshnessLifetime(response, receivedAt) - initialAge(response, receivedAt)
}

/** Is a stored response fresh at `now` for this request? A request's no-cache or max-age=0 asks for revalidation. */
export function isFresh (until: number, now: number, request: Headers = {}): boolean {
  const req = parseCacheControl(request['cache-control'])
  if (req.has('no-cache') || request.pragma?.toLowerCase() === 'no-cache') return false
  const maxAge = seconds(req.get('max-age'))
  if (maxAge === 0) return false
  return now < until
}

/** Headers of a conditional request revalidating a stored response: If-None-Match, else If-Modified-Since. */
export function conditionalHeaders (stored: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  if (stored.etag !== undefined) out['if-none-match'] = stored.etag
  if (stored['last-modified'] !== undefined) out['if-modified-since'] = stored['last-modified']
  return out
}

/** The headers worth keeping from a response (see STORED_HEADERS). */
export function storedHeaders (response: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of STORED_HEADERS) {
    const v = response[name]
    if (v !== undefined) out[name] = v
  }
  return out
}

/**
 * A 304 updates the stored headers (RFC 9111 §4.3.4): its own validators and freshness fields replace the
 * stored ones. Returns the merged headers.
 */
export function mergeNotModified (stored: Headers, notModified: Headers): Record<string, string> {
  const merged: Record<string, string> = {}
  for (const [k, v] of Object.entries(stored)) if (v !== undefined) merged[k] = v
  for (const [k, v] of Object.entries(storedHeaders(notModified))) if (k !== 'content-type') merged[k] = v
  return merged
}
