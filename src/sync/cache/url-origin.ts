import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { ForbiddenDestinationError, InvalidUrlError } from '../../errors.js'
import type { Headers } from '../../policy/cache/http-cache.js'
import { MAX_URL_LENGTH, ORIGIN_HEADERS_TIMEOUT_MS } from './constants.js'
import type { DestinationGuard } from './destination.js'
import type { UrlResponse } from './url-cache-interface.js'

/** An origin's answer: status, headers (lower-case, repeated ones joined), and the body as it arrives. */
export interface OriginResponse {
  status: number
  headers: Headers
  body: IncomingMessage
}

/** Headers never forwarded to the origin (hop-by-hop, RFC 9110 §7.6.1, and the proxy's own). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host'
])

export function flatHeaders (h: IncomingHttpHeaders): Headers {
  const out: Headers = {}
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
  return out
}

/** The request headers worth passing to the origin. */
export function forwardable (h: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) out[k.toLowerCase()] = v
  return out
}

/**
 * GET (or another method) from the origin. Asks for the identity encoding, so the bytes stored are the
 * resource's own and any client can use them. Rejects on network errors (unreachable, reset, no headers within
 * ORIGIN_HEADERS_TIMEOUT_MS); the caller decides between stale content and ERR_URL_UNAVAILABLE.
 */
export interface OriginRequestOptions {
  method?: string
  headers?: Record<string, string>
  signal?: AbortSignal
  timeoutMs?: number
  /** Connect only to addresses this guard permits (checked on the resolved address of every connection). */
  guard?: DestinationGuard
}

export async function originRequest (url: URL, options: OriginRequestOptions = {}): Promise<OriginResponse> {
  try {
    return await originRequestOnce(url, options)
  } catch (err) {
    // a kept-alive connection the server closed as we reused it: GET and HEAD are safe to send again, once
    const code = (err as NodeJS.ErrnoException).code
    if ((code !== 'ECONNRESET' && code !== 'EPIPE') || !['GET', 'HEAD'].includes(options.method ?? 'GET') || options.signal?.aborted === true) throw err
    return await originRequestOnce(url, options)
  }
}

async function originRequestOnce (url: URL, options: OriginRequestOptions): Promise<OriginResponse> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  const { guard } = options
  // an IP literal never goes through `lookup`: it is checked here
  const literal = guard?.literalReason(url.hostname)
  if (literal !== undefined) throw new ForbiddenDestinationError(url.hostname, undefined, literal)
  return await new Promise<OriginResponse>((resolve, reject) => {
    const req = request(url, {
      method: options.method ?? 'GET',
      headers: { 'accept-encoding': 'identity', ...options.headers },
      signal: options.signal,
      // the guard's own agent: its kept-alive sockets all went through the guard's lookup
      ...(guard !== undefined ? { agent: guard.agent(url.protocol) } : {})
    }, res => {
      clearTimeout(timer)
      resolve({ status: res.statusCode ?? 0, headers: flatHeaders(res.headers), body: res })
    })
    const timer = setTimeout(() => req.destroy(new Error(`no answer from ${url.host} within ${options.timeoutMs ?? ORIGIN_HEADERS_TIMEOUT_MS} ms`)), options.timeoutMs ?? ORIGIN_HEADERS_TIMEOUT_MS)
    req.once('error', err => { clearTimeout(timer); reject(err) })
    req.end()
  })
}

/** Read and drop a body (a 304's, or an answer not stored), so the connection can be reused. */
export async function drain (body: AsyncIterable<unknown>): Promise<void> {
  try {
    for await (const _ of body) { /* drained */ }
  } catch {}
}

/** Lower-case header names. */
export function lowerHeaders (h: Record<string, string>): Headers {
  const out: Headers = {}
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v
  return out
}

/** An absolute http(s) URL, normalised (WHATWG URL: lower-case host, default port dropped), without fragment. */
export function normalizeUrl (input: string): string {
  if (input.length > MAX_URL_LENGTH) throw new InvalidUrlError(input, `longer than ${MAX_URL_LENGTH} characters`)
  let u: URL
  try {
    u = new URL(input)
  } catch {
    throw new InvalidUrlError(input, 'not an absolute URL')
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidUrlError(input, `${u.protocol} is not http or https`)
  if (u.username !== '' || u.password !== '') throw new InvalidUrlError(input, 'credentials in the URL')
  u.hash = ''
  return u.toString()
}

/** An origin's answer passed on unstored: its body counted through `onBytes` as it is read (`size` so far). */
export function passedResponse (url: string, res: OriginResponse, onBytes: (n: number) => void, alreadyCounted = 0): UrlResponse {
  let counted = alreadyCounted
  const body = res.body
  return {
    url,
    status: res.status,
    headers: forwardable(res.headers),
    source: 'origin',
    cache: 'MISS',
    revalidated: false,
    stale: false,
    shared: false,
    peerBytes: 0,
    storeBytes: 0,
    savedBytes: 0,
    body: async function * () {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        counted += chunk.length
        onBytes(chunk.length)
        yield chunk
      }
    },
    get size () { return counted },
    // every byte of a passed answer crosses the external link: known once the body is read
    get externalBytes () { return counted }
  } as UrlResponse
}
