/**
 * The control API's routes: one table of `{ method, path, handler }`. The server (server.ts) checks every request
 * (Host, Origin, Sec-Fetch-Site, the token for /api/) before it looks a route up, and reads a body only for a route
 * that declares one, up to the route's cap. A handler returns the JSON to answer with 200, or answers itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describeRelease } from '../analytics/analytics.js'
import { monitorHandler } from '../analytics/monitor.js'
import { monitorSource } from '../analytics/node-hooks.js'
import { parseCid } from '../dag/cid.js'
import { CmeshError } from '../errors.js'
import type { CmeshNode } from '../node/index.js'
import { MAX_BUNDLE_BYTES } from '../policy/trust/constants.js'
import { describeResponse } from '../sync/cache/url-cache.js'
import { runCollectionOp, type CollectionOp } from '../sync/collections/collection-ops.js'
import type { Progress } from './contract.js'
import { NDJSON, type ApiStreamLine } from './endpoint.js'
import { fetchWithProgress, updateWithProgress } from './operations.js'

/** A collection request (a governance document at most): small JSON. */
export const MAX_COLLECTION_OP_BYTES = 1024 * 1024

export interface RouteRequest {
  node: CmeshNode
  req: IncomingMessage
  res: ServerResponse
  url: URL
  /** The request body, read up to the route's cap (empty for a route without `body`). */
  body: Buffer
}

export interface Route {
  method: 'GET' | 'POST'
  path: string
  /** The route takes a body of at most `max` bytes (ERR_TOO_LARGE past it); without this its body is not read. */
  body?: { max: number, what: string }
  /** JSON to answer with (200), or undefined once it has answered itself. */
  handler: (r: RouteRequest) => Promise<unknown>
}

/** Why no route takes a request: no such path (404), or not that method (405, with the methods it allows). */
export type RouteMatch = { route: Route } | { status: 404 | 405, allow: string[] }

/** The route for a method and path, else why none. */
export function matchRoute (routes: readonly Route[], method: string, path: string): RouteMatch {
  const onPath = routes.filter(r => r.path === path)
  const route = onPath.find(r => r.method === method)
  if (route !== undefined) return { route }
  return onPath.length === 0 ? { status: 404, allow: [] } : { status: 405, allow: onPath.map(r => r.method) }
}

/** The client asked for its answer as a stream of progress lines (`Accept: application/x-ndjson`). */
function wantsStream (req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').split(',').some(t => t.trim().split(';')[0] === NDJSON)
}

/**
 * Answer with NDJSON: a progress line for each report of `work`, then its result, or the error it failed with
 * (its code and message, as a plain answer's `{ error, code }`): the status is sent before the work is done.
 */
async function streamed (res: ServerResponse, work: (onProgress: (p: Progress) => void) => Promise<unknown>): Promise<undefined> {
  res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' })
  const send = (line: ApiStreamLine): void => { if (!res.destroyed) res.write(JSON.stringify(line) + '\n') }
  try {
    send({ type: 'result', result: await work(p => send({ type: 'progress', ...p })) })
  } catch (err) {
    send({ type: 'error', error: (err as Error).message, code: (err as CmeshError).code ?? 'ERR_INTERNAL' })
  }
  res.end()
  return undefined
}

/** The monitoring answers of a node (/metrics, /health): one handler, and so one metrics registry, a node. */
const monitors = new WeakMap<CmeshNode, ReturnType<typeof monitorHandler>>()

async function monitored ({ node, req, res }: RouteRequest): Promise<undefined> {
  let monitor = monitors.get(node)
  if (monitor === undefined) monitors.set(node, monitor = monitorHandler(monitorSource(node)))
  await monitor(req, res)
  return undefined
}

/** Every route of the control API; those outside /api/ (monitoring, read-only) need no token. */
export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/metrics', handler: monitored },
  { method: 'GET', path: '/health', handler: monitored },
  {
    method: 'GET',
    path: '/api/v0/id',
    handler: async ({ node }) => ({ peerId: node.peerId.toString(), addrs: node.addrs() })
  },
  {
    method: 'GET',
    path: '/api/v0/peers',
    handler: async ({ node }) => await node.peers()
  },
  {
    method: 'GET',
    path: '/api/v0/stats',
    handler: async ({ node }) => node.stats()
  },
  {
    method: 'POST',
    path: '/api/v0/fetch',
    handler: async ({ node, req, res, url }) => {
      const cid = parseCid(url.searchParams.get('cid') ?? '')
      if (!wantsStream(req)) return await fetchWithProgress(node, cid)
      return await streamed(res, async onProgress => await fetchWithProgress(node, cid, onProgress))
    }
  },
  {
    method: 'POST',
    path: '/api/v0/update',
    body: { max: MAX_BUNDLE_BYTES, what: 'a release bundle' },
    handler: async ({ node, req, res, url, body }) => {
      const name = url.searchParams.get('name') ?? ''
      const options = { bundle: body.length === 0 ? undefined : body, withDeps: url.searchParams.get('withDeps') === '1' }
      if (!wantsStream(req)) return await updateWithProgress(node, name, options)
      return await streamed(res, async onProgress => await updateWithProgress(node, name, options, onProgress))
    }
  },
  {
    method: 'POST',
    path: '/api/v0/report/release',
    handler: async ({ node }) => describeRelease(await node.analytics.release())
  },
  {
    method: 'POST',
    path: '/api/v0/collections',
    body: { max: MAX_COLLECTION_OP_BYTES, what: 'a collection request' },
    handler: async ({ node, body }) => {
      let op: CollectionOp
      try {
        op = JSON.parse(body.toString('utf8')) as CollectionOp
      } catch (err) {
        throw new CmeshError('ERR_USAGE', `collection request is not JSON: ${(err as Error).message}`)
      }
      return await runCollectionOp(node.collections, op)
    }
  },
  {
    method: 'POST',
    path: '/api/v0/url',
    handler: async ({ node, res, url }) => {
      const r = await node.fetchUrl(url.searchParams.get('url') ?? '')
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-cmesh-result': encodeURIComponent(JSON.stringify(describeResponse(r))) })
      for await (const chunk of r.body()) if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve))
      res.end()
      return undefined
    }
  }
]
