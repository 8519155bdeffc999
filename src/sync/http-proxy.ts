import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, isIP, type AddressInfo, type Socket } from 'node:net'
import { CmeshError } from '../errors.js'
import { flatHeaders, forwardable } from './url-origin.js'
import type { FetchUrlOptions, UrlResponse } from './url-cache.js'

export interface ProxyOptions {
  /** Address to listen on. @default '0.0.0.0' (devices of the local network use it) */
  host?: string
  /** Port. @default 3128 (Squid's) */
  port?: number
  /**
   * Which clients may use the proxy. @default loopback and private networks (10/8, 172.16/12, 192.168/16,
   * 169.254/16, fc00::/7, fe80::/10), as Squid's `localnet` ACL: never an open relay on a public address
   */
  allow?: (address: string) => boolean
}

export const DEFAULT_PROXY_PORT = 3128

/** Loopback, private and link-local addresses (IPv4, IPv6, IPv4-mapped IPv6). */
export function isLocalAddress (address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  if (isIP(a) === 4) {
    const [x, y] = a.split('.').map(Number) as [number, number]
    return x === 127 || x === 10 || (x === 172 && y >= 16 && y < 32) || (x === 192 && y === 168) || (x === 169 && y === 254)
  }
  const l = a.toLowerCase()
  return l === '::1' || l.startsWith('fc') || l.startsWith('fd') || l.startsWith('fe8') || l.startsWith('fe9') || l.startsWith('fea') || l.startsWith('feb')
}

export interface HttpProxy {
  url: string
  port: number
  close: () => Promise<void>
}

type Fetcher = { fetchUrl: (url: string, options?: FetchUrlOptions) => Promise<UrlResponse> }

/**
 * A forward HTTP proxy for devices that know nothing of cmesh (a laptop's apt or browser with this node as its
 * proxy). GET requests in absolute form (`GET http://host/path HTTP/1.1`) go through the community cache; other
 * methods, HEAD included, are passed to the origin unstored; CONNECT (HTTPS) is tunnelled, and so never cached.
 * A single `Range:` of stored content is answered 206 (apt resumes downloads that way).
 * Answers say `X-Cache: HIT|MISS` and `Via`, as Squid's do; a stale answer served while the origin is
 * unreachable carries `Warning: 110`. An uncached URL with the origin unreachable is a 504.
 */
export async function startProxy (cache: Fetcher, options: ProxyOptions = {}): Promise<HttpProxy> {
  const allow = options.allow ?? isLocalAddress
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => {
    if (!allow(req.socket.remoteAddress ?? '')) return plain(res, 403, 'this proxy serves the local network only')
    void handle(cache, req, res).catch(err => {
      if (res.headersSent) { res.destroy(err as Error); return }
      const code = (err as CmeshError).code
      plain(res, code === 'ERR_URL_UNAVAILABLE' ? 504 : code === 'ERR_INVALID_URL' ? 400 : 502, `${(err as Error).message}${code !== undefined ? ` [${code}]` : ''}`)
    })
  })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (!allow(client.remoteAddress ?? '')) { client.end('HTTP/1.1 403 Forbidden\r\n\r\n'); return }
    const [host, port] = splitHostPort(req.url ?? '')
    if (host === undefined) { client.end('HTTP/1.1 400 Bad Request\r\n\r\n'); return }
    const upstream = connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => { client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n') })
    client.on('error', () => upstream.destroy())
  })
  server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? DEFAULT_PROXY_PORT, options.host ?? '0.0.0.0', resolve)
  })
  const address = server.address() as AddressInfo
  const shown = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address
  return {
    url: `http://${shown.includes(':') ? `[${shown}]` : shown}:${address.port}`,
    port: address.port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

function splitHostPort (target: string): [string | undefined, number] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target)
  if (m === null) return [undefined, 0]
  return [m[1], Number(m[2])]
}

function plain (res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', via: VIA })
  res.end(text + '\n')
}

const VIA = '1.1 cmesh'

async function handle (cache: Fetcher, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = req.url ?? ''
  if (!/^https?:\/\//i.test(target)) return plain(res, 400, 'this is a proxy: requests must name an absolute http:// URL')
  const headers = flatHeaders(req.headers)
  if (req.method !== 'GET') return await passThrough(target, req, res)
  const r = await cache.fetchUrl(target, { headers: forwardable(headers) as Record<string, string>, throwOnStatus: false })
  const out: Record<string, string> = { ...r.headers, via: VIA, 'x-cache': r.source === 'local' && !r.revalidated ? 'HIT' : 'MISS' }
  if (r.stale) out.warning = '110 cmesh "Response is Stale"'
  let status = r.status
  let range: { offset: number, length: number } | undefined
  if (r.cid !== undefined && r.size !== undefined) {
    out['accept-ranges'] = 'bytes'
    out['content-length'] = String(r.size)
    const asked = parseRange(headers.range, r.size)
    if (asked === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${r.size}`, via: VIA })
      return void res.end()
    }
    if (asked !== undefined) {
      range = asked
      status = 206
      out['content-range'] = `bytes ${asked.offset}-${asked.offset + asked.length - 1}/${r.size}`
      out['content-length'] = String(asked.length)
    }
  }
  res.writeHead(status, out)
  for await (const chunk of r.body(range)) {
    if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve))
  }
  res.end()
}

/**
 * A single byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`) of stored content, as apt uses to resume; several
 * ranges or a malformed header are ignored (the whole content with a 200, which RFC 9110 allows).
 */
export function parseRange (header: string | undefined, size: number): { offset: number, length: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const n = Math.min(Number(m[2]), size)
    return n === 0 ? 'unsatisfiable' : { offset: size - n, length: n }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size) return 'unsatisfiable'
  if (end < start) return undefined
  return { offset: start, length: end - start + 1 }
}

/** Any method but GET: to the origin and back, unstored (its request body streamed through). */
async function passThrough (target: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(target)
  if (url.protocol !== 'http:') return plain(res, 400, 'only http:// URLs are proxied outside CONNECT')
  await new Promise<void>((resolve, reject) => {
    const upstream = httpRequest(url, { method: req.method, headers: forwardable(flatHeaders(req.headers)) }, answer => {
      res.writeHead(answer.statusCode ?? 502, { ...forwardable(flatHeaders(answer.headers)), via: VIA, 'x-cache': 'MISS' })
      answer.pipe(res)
      answer.on('end', resolve)
      answer.on('error', reject)
    })
    upstream.on('error', err => reject(new CmeshError('ERR_URL_UNAVAILABLE', `${url.host}: ${err.message}`)))
    req.pipe(upstream)
  })
}
