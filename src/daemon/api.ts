import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { join } from 'node:path'
import { parseCid } from '../dag/cid.js'
import { ApiAuthError, CmeshError, TooLargeError } from '../errors.js'
import { MAX_BUNDLE_BYTES } from '../policy/trust/constants.js'
import type { CmeshNode } from '../node/index.js'
import { runCollectionOp, type CollectionOp } from '../sync/collections/collection-ops.js'
import { describeResponse } from '../sync/cache/url-cache.js'
import { monitorHandler } from '../analytics/monitor.js'
import { monitorSource } from '../analytics/node-hooks.js'

/** A collection request (a governance document at most): small JSON. */
const MAX_COLLECTION_OP_BYTES = 1024 * 1024

/** File in the repository naming the running daemon's API address (removed when it stops). */
export const API_FILENAME = 'api'

/** File in the repository holding the API's bearer token (mode 0600: only the repository's owner may use the API). */
export const API_TOKEN_FILENAME = 'api-token'

/** A running daemon's control API: where it listens, and the token its requests carry. */
export interface DaemonEndpoint {
  url: string
  token: string
}

/** The repository's API token: read, or made (32 random bytes) on first use; the file is kept at mode 0600. */
export async function apiToken (repo: string): Promise<string> {
  const file = join(repo, API_TOKEN_FILENAME)
  try {
    const token = (await readFile(file, 'utf8')).trim()
    if ((await stat(file)).mode & 0o077) await chmod(file, 0o600)
    if (/^[A-Za-z0-9_-]{32,}$/.test(token)) return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('base64url')
  await writeFile(file, token + '\n', { mode: 0o600 })
  await chmod(file, 0o600) // the mode of writeFile applies only to a file it creates
  return token
}

/**
 * Who may use the API: a request whose Host names this loopback address (a web page that rebinds its own name
 * to 127.0.0.1 sends its own name), with no Origin but this one (a page's cross-site request carries its own),
 * and, for /api/v0, the repository's token. Returns why a request is refused, or undefined.
 */
export function refusal (req: IncomingMessage, port: number, token: string): string | undefined {
  const hosts = [`127.0.0.1:${port}`, `localhost:${port}`]
  if (!hosts.includes((req.headers.host ?? '').toLowerCase())) return 'the Host header does not name this API (127.0.0.1)'
  const origin = req.headers.origin
  if (origin !== undefined && !hosts.some(h => origin.toLowerCase() === `http://${h}`)) return 'requests from web pages are refused'
  if (req.headers['sec-fetch-site'] !== undefined && req.headers['sec-fetch-site'] !== 'same-origin' && req.headers['sec-fetch-site'] !== 'none') return 'requests from web pages are refused'
  if (!new URL(req.url ?? '/', 'http://127.0.0.1').pathname.startsWith('/api/')) return undefined // /metrics, /health: read-only
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')
  const given = Buffer.from(m?.[1] ?? '')
  const want = Buffer.from(token)
  if (given.length !== want.length || !timingSafeEqual(given, want)) return `the API needs the token in ${API_TOKEN_FILENAME} of the repository`
  return undefined
}

/**
 * The daemon's control API, on 127.0.0.1 only, so `cmesh fetch` and `cmesh peers` can use the running node.
 * Every /api/v0 request carries `Authorization: Bearer TOKEN` (the repository's api-token file); requests from
 * web pages (another Host or Origin) are refused with 403, ERR_API_AUTH (see `refusal`).
 *   GET /api/v0/id              -> { peerId, addrs }
 *   GET /api/v0/peers           -> [PeerInfo, ...]
 *   GET /api/v0/stats           -> [PeerFairness, ...] (ledger, ratios, choke state, shares)
 *   POST /api/v0/fetch?cid=CID  -> { cid, bytes, seconds, sources }
 *   POST /api/v0/update?name=N[&withDeps=1]  (body: a release bundle, or empty to ask peers) -> UpdateResult
 *   POST /api/v0/collections    (body: a CollectionOp as JSON: join, list, leave, share, retract, browse) -> its result
 *   POST /api/v0/url?url=URL    -> the content, through the community cache; its metadata (describeResponse) as
 *                                  URI-encoded JSON in the X-Cmesh-Result header
 *   GET /metrics                -> Prometheus text format (prom-client); GET /health -> { status, uptimeSeconds, peers, store }
 * Errors come back as { error, code } with a 4xx/5xx status. `port` 0 (the default) takes a free one.
 */
export async function startApi (node: CmeshNode, repo: string, port = 0): Promise<DaemonEndpoint & { close: () => Promise<void> }> {
  const monitor = monitorHandler(monitorSource(node))
  const token = await apiToken(repo)
  let listening = 0
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const refused = refusal(req, listening, token)
    if (refused !== undefined) {
      req.resume()
      return reply(403, { error: refused, code: new ApiAuthError(refused).code })
    }
    void (async () => {
      if (await monitor(req, res)) return
      if (req.method === 'GET' && url.pathname === '/api/v0/id') return reply(200, { peerId: node.peerId.toString(), addrs: node.addrs() })
      if (req.method === 'GET' && url.pathname === '/api/v0/peers') return reply(200, await node.peers())
      if (req.method === 'GET' && url.pathname === '/api/v0/stats') return reply(200, node.stats())
      if (req.method === 'POST' && url.pathname === '/api/v0/fetch') {
        const cid = parseCid(url.searchParams.get('cid') ?? '')
        const r = await node.fetch(cid)
        return reply(200, { cid: cid.toString(), bytes: Object.values(r.sources).reduce((a, b) => a + b, 0), seconds: r.seconds, sources: r.sources })
      }
      if (req.method === 'POST' && url.pathname === '/api/v0/update') {
        const body = await readBody(req, MAX_BUNDLE_BYTES, 'a release bundle')
        const bundle = body.length === 0 ? undefined : body
        return reply(200, await node.update(url.searchParams.get('name') ?? '', { bundle, withDeps: url.searchParams.get('withDeps') === '1' }))
      }
      if (req.method === 'POST' && url.pathname === '/api/v0/collections') {
        const body = await readBody(req, MAX_COLLECTION_OP_BYTES, 'a collection request')
        let op: CollectionOp
        try {
          op = JSON.parse(body.toString('utf8')) as CollectionOp
        } catch (err) {
          throw new CmeshError('ERR_USAGE', `collection request is not JSON: ${(err as Error).message}`)
        }
        return reply(200, await runCollectionOp(node.collections, op))
      }
      if (req.method === 'POST' && url.pathname === '/api/v0/url') {
        const r = await node.fetchUrl(url.searchParams.get('url') ?? '')
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-cmesh-result': encodeURIComponent(JSON.stringify(describeResponse(r))) })
        for await (const chunk of r.body()) if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve))
        return res.end()
      }
      reply(404, { error: `no such endpoint: ${req.method ?? ''} ${url.pathname}`, code: 'ERR_NOT_FOUND' })
    })().catch((err: Error) => {
      reply(err instanceof CmeshError ? (err.code === 'ERR_INTERNAL' ? 500 : 400) : 500, { error: err.message, code: (err as CmeshError).code ?? 'ERR_INTERNAL' })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  listening = (server.address() as { port: number }).port
  const url = `http://127.0.0.1:${listening}`
  const file = join(repo, API_FILENAME)
  await writeFile(file, url + '\n')
  return {
    url,
    token,
    close: async () => {
      await rm(file, { force: true })
      await new Promise<void>(resolve => server.close(() => resolve()))
      server.closeAllConnections()
    }
  }
}

/** A request body of at most `max` bytes; reading stops with ERR_TOO_LARGE past it. */
async function readBody (req: AsyncIterable<unknown>, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = []
  let total = 0
  for await (const part of req) {
    total += (part as Buffer).length
    if (total > max) throw new TooLargeError(`${what} is at most ${max} bytes`)
    parts.push(part as Buffer)
  }
  return Buffer.concat(parts)
}

/** The running daemon's API for a repository, if one answers. */
export async function daemonApi (repo: string): Promise<DaemonEndpoint | undefined> {
  let url: string
  let token: string
  try {
    url = (await readFile(join(repo, API_FILENAME), 'utf8')).trim()
    token = (await readFile(join(repo, API_TOKEN_FILENAME), 'utf8')).trim()
  } catch {
    return undefined
  }
  const api = { url, token }
  try {
    // the cheap endpoint: /peers would ping every peer just to learn that the daemon is there
    const res = await apiRequest(api, 'GET', '/api/v0/id', undefined, AbortSignal.timeout(2000))
    await res.arrayBuffer()
    if (res.status === 403) throw new ApiAuthError(`the daemon of ${repo} refused this repository's token`)
    return res.ok ? api : undefined
  } catch (err) {
    if (err instanceof CmeshError) throw err
    return undefined // a daemon that was killed left its file behind
  }
}

/** A request to the daemon's API, with its token. */
export async function apiRequest (api: DaemonEndpoint, method: 'GET' | 'POST', path: string, payload?: Uint8Array, signal?: AbortSignal): Promise<Response> {
  return await fetch(`${api.url}${path}`, { method, body: payload, signal, headers: { authorization: `Bearer ${api.token}` } })
}

/** Call the daemon; its errors come back as CmeshErrors with their codes. */
export async function callApi (api: DaemonEndpoint, method: 'GET' | 'POST', path: string, payload?: Uint8Array): Promise<unknown> {
  const res = await apiRequest(api, method, path, payload)
  const body = await res.json() as { error?: string, code?: string }
  if (!res.ok) throw new CmeshError(body.code ?? 'ERR_DAEMON', body.error ?? `daemon answered ${res.status}`)
  return body
}
