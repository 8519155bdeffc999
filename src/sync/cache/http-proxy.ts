import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, isIP, type AddressInfo, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { CmeshError, ForbiddenDestinationError } from '../../errors.js'
import { classifyAddress, DestinationGuard, type DestinationOptions } from './destination.js'
import { flatHeaders, forwardable } from './url-origin.js'
import type { FetchUrlOptions, UrlResponse } from './url-cache.js'

export interface ProxyOptions {
  /**
   * Addresses to listen on. @default this machine's loopback and private-network (LAN) IPv4 addresses: never a
   * public address unless named here
   */
  host?: string | string[]
  /** Port. @default 3128 (Squid's) */
  port?: number
  /**
   * Which clients may use the proxy. @default loopback and private networks (10/8, 172.16/12, 192.168/16,
   * 169.254/16, fc00::/7, fe80::/10), as Squid's `localnet` ACL: never an open relay on a public address
   */
  allow?: (address: string) => boolean
  /**
   * Where clients may make the proxy connect. Loopback, link-local, unspecified and this machine's own addresses
   * are refused (the node's control API and every local service stay out of reach), and private ranges too
   * unless `allowPrivate`; checked on the resolved address of every connection. @default {}
   */
  destinations?: DestinationOptions
  /** Ports CONNECT may tunnel to. @default [443] (HTTPS only, as Squid's SSL_ports) */
  connectPorts?: number[]
}

export const DEFAULT_PROXY_PORT = 3128
export const DEFAULT_CONNECT_PORTS = [443]

/** Loopback, private and link-local addresses (IPv4, IPv6, IPv4-mapped IPv6). */
export function isLocalAddress (address: string): boolean {
  const c = classifyAddress(address)
  return c === 'loopback' || c === 'private' || c === 'link-local'
}

/** Where the proxy listens by default: loopback and this machine's private-network IPv4 addresses. */
export function lanAddresses (): string[] {
  const out = ['127.0.0.1']
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal && classifyAddress(i.address) === 'private') out.push(i.address)
  }
  return out
}

export interface HttpProxy {
  /** The first address's URL (loopback's by default). */
  url: string
  /** Every address listened on. */
  urls: string[]
  port: number
  close: () => Promise<void>
}

type Fetcher = { fetchUrl: (url: string, options?: FetchUrlOptions) => Promise<UrlResponse> }

/** The statuses of the proxy's own refusals. */
function statusOf (err: unknown): number {
  const code = (err as CmeshError).code
  if (code === 'ERR_FORBIDDEN_DESTINATION') return 403
  if (code === 'ERR_URL_UNAVAILABLE') return 504
  if (code === 'ERR_INVALID_URL') return 400
  return 502
}

/**
 * A forward HTTP proxy for devices that know nothing of cmesh (a laptop's apt or browser with this node as its
 * proxy). GET requests in absolute form (`GET http://host/path HTTP/1.1`) go through the community cache; other
 * methods, HEAD included, are passed to the origin unstored; CONNECT (HTTPS) is tunnelled to the permitted ports,
 * and so never cached. Destinations are checked on resolved addresses (see ProxyOptions.destinations).
 * A single `Range:` of stored content is answered 206 (apt resumes downloads that way).
 * Answers say `Via` and `X-Cache`: HIT (this node's store), MEMBER (a member that held it; the origin was not
 * contacted), MISS (the origin was, here or by the member that fetched it for us); a stale answer served while the origin is
 * unreachable carries `Warning: 110`. An uncached URL with the origin unreachable is a 504.
 */
export async function startProxy (cache: Fetcher, options: ProxyOptions = {}): Promise<HttpProxy> {
  const allow = options.allow ?? isLocalAddress
  const guard = new DestinationGuard(options.destinations)
  const connectPorts = new Set(options.connectPorts ?? DEFAULT_CONNECT_PORTS)
  const sockets = new Set<Socket>()
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!allow(req.socket.remoteAddress ?? '')) return plain(res, 403, 'this proxy serves the local network only')
    void handle(cache, guard, req, res).catch(err => {
      if (res.headersSent) { res.destroy(err as Error); return }
      const code = (err as CmeshError).code
      plain(res, statusOf(err), `${(err as Error).message}${code !== undefined ? ` [${code}]` : ''}`)
    })
  }
  const onConnect = (req: IncomingMessage, client: Socket, head: Buffer): void => {
    client.on('error', () => client.destroy())
    if (!allow(client.remoteAddress ?? '')) { client.end('HTTP/1.1 403 Forbidden\r\n\r\n'); return }
    const target = parseConnectTarget(req.url ?? '')
    if (target === undefined) { client.end('HTTP/1.1 400 Bad Request\r\n\r\n'); return }
    if (!connectPorts.has(target.port)) { client.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nCONNECT to port ${target.port} is not permitted\n`); return }
    guard.resolve(target.host).then(([first]) => {
      if (client.destroyed) return
      // the checked address itself, so nothing resolves the name again
      const upstream = connect(target.port, first!.address, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        if (head.length > 0) upstream.write(head)
        upstream.pipe(client)
        client.pipe(upstream)
      })
      sockets.add(upstream)
      upstream.on('close', () => { sockets.delete(upstream); client.destroy() })
      upstream.on('error', () => { client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n') })
      client.on('close', () => upstream.destroy())
    }, (err: Error) => {
      const refused = err instanceof ForbiddenDestinationError
      client.end(`HTTP/1.1 ${refused ? '403 Forbidden' : '502 Bad Gateway'}\r\ncontent-type: text/plain\r\n\r\n${err.message}\n`)
    })
  }
  const hosts = options.host === undefined ? lanAddresses() : Array.isArray(options.host) ? options.host : [options.host]
  if (hosts.length === 0) throw new CmeshError('ERR_USAGE', 'the proxy needs at least one address to listen on')
  const servers: Server[] = []
  let port = options.port ?? DEFAULT_PROXY_PORT
  try {
    for (const host of hosts) {
      const server = createServer(onRequest)
      server.on('connect', onConnect)
      server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, resolve)
      })
      servers.push(server)
      port = (server.address() as AddressInfo).port // port 0: every address on the port the first one got
    }
  } catch (err) {
    for (const s of servers) s.close()
    throw err
  }
  const urls = servers.map(server => {
    const address = (server.address() as AddressInfo).address
    const shown = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address
    return `http://${isIP(shown) === 6 ? `[${shown}]` : shown}:${port}`
  })
  return {
    url: urls[0]!,
    urls,
    port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await Promise.all(servers.map(async server => await new Promise<void>(resolve => server.close(() => resolve()))))
      guard.close()
    }
  }
}

/**
 * The target of a CONNECT request (`host:port`, `[v6]:port`): a DNS name, an IPv4 or a bracketed IPv6 address,
 * and a port 1-65535; undefined for anything else.
 */
export function parseConnectTarget (target: string): { host: string, port: number } | undefined {
  if (target.length > 300) return undefined
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9.])?)):([1-9][0-9]{0,4})$/.exec(target)
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined
  return { host: m[2]!, port }
}

function plain (res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', via: VIA })
  res.end(text + '\n')
}

const VIA = '1.1 cmesh'

async function handle (cache: Fetcher, guard: DestinationGuard, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = req.url ?? ''
  if (!/^https?:\/\//i.test(target) || !URL.canParse(target)) return plain(res, 400, 'this is a proxy: requests must name an absolute http:// URL')
  const headers = flatHeaders(req.headers)
  // refused before anything is fetched or stored; connections check each resolved address again
  await guard.resolve(new URL(target).hostname)
  if (req.method !== 'GET') return await passThrough(target, guard, req, res)
  const r = await cache.fetchUrl(target, { headers: forwardable(headers) as Record<string, string>, throwOnStatus: false, guard })
  const out: Record<string, string> = { ...r.headers, via: VIA, 'x-cache': r.cache }
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
async function passThrough (target: string, guard: DestinationGuard, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(target)
  if (url.protocol !== 'http:') return plain(res, 400, 'only http:// URLs are proxied outside CONNECT')
  await new Promise<void>((resolve, reject) => {
    const upstream = httpRequest(url, { method: req.method, headers: forwardable(flatHeaders(req.headers)), agent: guard.agent(url.protocol) }, answer => {
      res.writeHead(answer.statusCode ?? 502, { ...forwardable(flatHeaders(answer.headers)), via: VIA, 'x-cache': 'MISS' })
      answer.pipe(res)
      answer.on('end', resolve)
      answer.on('error', reject)
    })
    upstream.on('error', err => reject(err instanceof CmeshError ? err : new CmeshError('ERR_URL_UNAVAILABLE', `${url.host}: ${err.message}`)))
    req.pipe(upstream)
  })
}
