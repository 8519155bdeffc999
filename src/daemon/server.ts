/**
 * The control API's server: on 127.0.0.1 only, so `cmesh fetch`, `peers`, `update`, `get-url`, `stats` and the
 * collection commands can use the running node. Every request is checked here, before any route is looked up
 * (`refusal`); routes are in routes.ts.
 */
import { timingSafeEqual } from 'node:crypto'
import { rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { ApiAuthError, CmeshError, TooLargeError } from '../errors.js'
import type { CmeshNode } from '../node/index.js'
import { apiToken, type DaemonEndpoint } from './endpoint.js'
import { REPO_ENTRIES, repoPath } from '../repo/index.js'
import { matchRoute, ROUTES, type Route } from './routes.js'

/**
 * Who may use the API: a request whose Host names this loopback address (a web page that rebinds its own name
 * to 127.0.0.1 sends its own name), with no Origin but this one (a page's cross-site request carries its own),
 * and, for /api/, the repository's token. Returns why a request is refused, or undefined.
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
  if (given.length !== want.length || !timingSafeEqual(given, want)) return `the API needs the token in ${REPO_ENTRIES.apiToken} of the repository`
  return undefined
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

function reply (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

/**
 * Start the daemon's control API (routes.ts has the table):
 *   GET /api/v0/id              -> { peerId, addrs }
 *   GET /api/v0/peers           -> [PeerInfo, ...]
 *   GET /api/v0/stats           -> [PeerFairness, ...] (ledger, ratios, choke state, shares)
 *   POST /api/v0/fetch?cid=CID  -> { cid, bytes, seconds, sources }
 *   POST /api/v0/update?name=N[&withDeps=1]  (body: a release bundle, or empty to ask peers) -> UpdateResult
 *   POST /api/v0/collections    (body: a CollectionOp as JSON: join, list, leave, share, retract, browse) -> its result
 *   POST /api/v0/url?url=URL    -> the content, through the community cache; its metadata (describeResponse) as
 *                                  URI-encoded JSON in the X-Cmesh-Result header
 *   GET /metrics                -> Prometheus text format (prom-client); GET /health -> { status, uptimeSeconds, peers, store }
 * Fetch and update with `Accept: application/x-ndjson` stream their progress: `{"type":"progress","done","total"}`
 * lines, then `{"type":"result","result"}` or `{"type":"error","error","code"}`. Every /api/ request carries
 * `Authorization: Bearer TOKEN` (the repository's api-token file); requests from web pages (another Host or Origin)
 * are refused with 403, ERR_API_AUTH (see `refusal`). Errors come back as { error, code } with a 4xx/5xx status: an
 * unknown path is 404 ERR_NOT_FOUND, a known path with another method 405 ERR_METHOD_NOT_ALLOWED (and Allow).
 * `port` 0 (the default) takes a free one; the address is written to the repository's api file.
 */
export async function startApi (
  node: CmeshNode,
  repo: string,
  port = 0,
  routes: readonly Route[] = ROUTES
): Promise<DaemonEndpoint & { close: () => Promise<void> }> {
  const token = await apiToken(repo)
  let listening = 0
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const refused = refusal(req, listening, token)
    if (refused !== undefined) {
      req.resume()
      return reply(res, 403, { error: refused, code: new ApiAuthError(refused).code })
    }
    void (async () => {
      const method = req.method ?? ''
      const match = matchRoute(routes, method, url.pathname)
      if ('status' in match) {
        req.resume()
        if (match.status === 405) return reply(res, 405, { error: `${method} is not allowed on ${url.pathname} (${match.allow.join(', ')})`, code: 'ERR_METHOD_NOT_ALLOWED' }, { allow: match.allow.join(', ') })
        return reply(res, 404, { error: `no such endpoint: ${method} ${url.pathname}`, code: 'ERR_NOT_FOUND' })
      }
      const { route } = match
      const body = route.body === undefined ? Buffer.alloc(0) : await readBody(req, route.body.max, route.body.what)
      const answer = await route.handler({ node, req, res, url, body })
      if (!res.headersSent) reply(res, 200, answer)
    })().catch((err: Error) => {
      if (res.headersSent) return void res.destroy(err) // a streamed body broke off: the client sees it cut short
      reply(
        res,
        err instanceof CmeshError ? (err.code === 'ERR_INTERNAL' ? 500 : 400) : 500,
        { error: err.message, code: (err as CmeshError).code ?? 'ERR_INTERNAL' }
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  listening = (server.address() as { port: number }).port
  const url = `http://127.0.0.1:${listening}`
  const file = repoPath(repo, 'api')
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
