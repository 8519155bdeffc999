import { readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { parseCid } from './dag/cid.js'
import { CmeshError, TooLargeError } from './errors.js'
import { MAX_BUNDLE_BYTES } from './policy/release-manifest.js'
import type { CmeshNode } from './node.js'
import { runCollectionOp, type CollectionOp } from './sync/collection-ops.js'
import { describeResponse } from './sync/url-cache.js'
import { monitorHandler } from './analytics/monitor.js'
import { monitorSource } from './analytics/node-hooks.js'

/** A collection request (a governance document at most): small JSON. */
const MAX_COLLECTION_OP_BYTES = 1024 * 1024

/** File in the repository naming the running daemon's API address (removed when it stops). */
export const API_FILENAME = 'api'

/**
 * The daemon's control API, on 127.0.0.1 only, so `cmesh fetch` and `cmesh peers` can use the running node:
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
export async function startApi (node: CmeshNode, repo: string, port = 0): Promise<{ url: string, close: () => Promise<void> }> {
  const monitor = monitorHandler(monitorSource(node))
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
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
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const file = join(repo, API_FILENAME)
  await writeFile(file, url + '\n')
  return {
    url,
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

/** The running daemon's API address for a repository, if one answers. */
export async function daemonApi (repo: string): Promise<string | undefined> {
  let url: string
  try {
    url = (await readFile(join(repo, API_FILENAME), 'utf8')).trim()
  } catch {
    return undefined
  }
  try {
    // the cheap endpoint: /peers would ping every peer just to learn that the daemon is there
    const res = await fetch(`${url}/api/v0/id`, { signal: AbortSignal.timeout(2000) })
    await res.arrayBuffer()
    return res.ok ? url : undefined
  } catch {
    return undefined // a daemon that was killed left its file behind
  }
}

/** Call the daemon; its errors come back as CmeshErrors with their codes. */
export async function callApi (url: string, method: 'GET' | 'POST', path: string, payload?: Uint8Array): Promise<unknown> {
  const res = await fetch(`${url}${path}`, { method, body: payload })
  const body = await res.json() as { error?: string, code?: string }
  if (!res.ok) throw new CmeshError(body.code ?? 'ERR_DAEMON', body.error ?? `daemon answered ${res.status}`)
  return body
}
