import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CarWriter } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { createHash } from 'node:crypto'
import { carSections } from '../../dag/car.js'
import { parseEntityBytes, scopedBlocks, type DagScope, type EntityBytes } from '../../dag/car-scope.js'
import { parseCid } from '../../dag/cid.js'
import { getVerified } from '../../dag/verify.js'
import { BlockNotFoundError, InvalidOptionError, NotInDagError } from '../../errors.js'
import type { Blockstore } from '../../store/interface.js'
import {
  CAR_CONTENT_TYPE,
  CAR_MEDIA_TYPE,
  DEFAULT_GATEWAY_HOST,
  DEFAULT_GATEWAY_PORT,
  IMMUTABLE_CACHE_CONTROL,
  PROBE_CID,
  RAW_MEDIA_TYPE
} from './constants.js'

export interface GatewayComponents {
  store: Pick<Blockstore, 'getSync' | 'has'>
}

export interface GatewayInit {
  /** Interface to listen on. @default DEFAULT_GATEWAY_HOST ('127.0.0.1') */
  host?: string
  /** Port to listen on; 0 picks a free one. @default DEFAULT_GATEWAY_PORT (0) */
  port?: number
}

export interface Gateway {
  /** Base URL such as `http://127.0.0.1:8080`; blocks are at `{url}/ipfs/{cid}`. */
  readonly url: string
  readonly port: number
  /** Requests received so far, whatever the answer. */
  readonly requests: number
  /** Stop listening and cut open connections (a CAR being streamed ends truncated). */
  close: () => Promise<void>
}

type Wanted = { format: 'raw' } | { format: 'car', scope: DagScope, bytes?: EntityBytes, bytesText?: string }

/**
 * Serve the store's blocks as an IPFS trustless gateway (specs.ipfs.tech/http-gateways/trustless-gateway):
 * `GET`/`HEAD /ipfs/{cid}` with `?format=raw` or `Accept: application/vnd.ipld.raw` answers the block, and
 * `/ipfs/{cid}[/{path}]` with `?format=car` or `Accept: application/vnd.ipld.car` a CARv1 (depth-first, no
 * duplicates) of the blocks that resolve the path, then of what is at its end as `dag-scope` (block, entity, all)
 * and `entity-bytes` ask (dag/car-scope.ts), in cmesh's format or UnixFS, streamed. Every block is verified
 * against its CID before it is sent: a corrupt block is answered 500 or, in the middle of a CAR, cuts the
 * connection. It is trustless only: nothing is served deserialized, so a request naming neither format is refused
 * (400 without Accept, 406 otherwise).
 */
export async function startGateway (components: GatewayComponents, init: GatewayInit = {}): Promise<Gateway> {
  const host = init.host ?? DEFAULT_GATEWAY_HOST
  let requests = 0
  const server = createServer((req, res) => {
    requests++
    serve(components.store, req, res).catch((err: Error) => {
      // once the status line is out, cutting the connection is the only way to tell the client the body is short
      if (res.headersSent) res.destroy()
      else refuse(res, 500, err.message)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? DEFAULT_GATEWAY_PORT, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    get requests () { return requests },
    close: async () => {
      const closed = new Promise<void>(resolve => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    }
  }
}

async function serve (store: GatewayComponents['store'], req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.setHeader('X-Content-Type-Options', 'nosniff')
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD')
    return refuse(res, 405, `${req.method ?? 'this method'} is not allowed: use GET or HEAD`)
  }
  const url = new URL(req.url ?? '/', 'http://gateway.invalid')
  const path = /^\/ipfs\/([^/]+)(\/.*)?$/.exec(url.pathname)
  if (path === null) return refuse(res, 404, `nothing at ${url.pathname}: blocks are at /ipfs/{cid}`)
  const wanted = negotiate(url, req.headers.accept)
  if (Array.isArray(wanted)) return refuse(res, wanted[0], wanted[1])
  let inside: string
  try {
    inside = (path[2] ?? '').split('/').filter(p => p !== '').map(p => decodeURIComponent(p)).join('/')
  } catch {
    return refuse(res, 400, `the path ${JSON.stringify(path[2])} is not well-formed`)
  }
  if (inside !== '' && wanted.format === 'raw') return refuse(res, 400, 'a block is asked for by its CID alone: paths are for CAR requests (format=car)')
  if (path[1] === PROBE_CID) return await probe(wanted, req, res)
  let cid: CID
  try {
    cid = parseCid(path[1]!)
  } catch (err) {
    return refuse(res, 400, (err as Error).message) // ERR_INVALID_CID: not a CID, or a codec or hash cmesh never holds
  }
  if (!await store.has(cid)) {
    // only-if-cached: the client asks whether this gateway holds the root, not for it to be found elsewhere (412)
    const onlyIfCached = /(^|,)\s*only-if-cached\s*(,|$)/i.test(req.headers['cache-control'] ?? '')
    return refuse(res, onlyIfCached ? 412 : 404, `block ${cid} is not held here`)
  }

  const etag = wanted.format === 'raw' ? `"${cid}.raw"` : carEtag(cid, inside, wanted)
  const headers: Record<string, string> = { 'Cache-Control': IMMUTABLE_CACHE_CONTROL, ETag: etag, Vary: 'Accept' }
  if (url.searchParams.get('format') === null) {
    const query = new URLSearchParams(url.searchParams)
    query.set('format', wanted.format)
    headers['Content-Location'] = `${url.pathname}?${query.toString()}`
  }
  if (req.headers['if-none-match']?.split(',').some(tag => tag.trim() === etag) === true) {
    res.writeHead(304, headers).end()
    return
  }
  if (wanted.format === 'car') return await serveCar(store, cid, inside, wanted, headers, req, res)
  let bytes: Uint8Array
  try {
    bytes = await getVerified(store, cid)
  } catch (err) {
    if (err instanceof BlockNotFoundError) return refuse(res, 404, `block ${cid} is not held here`) // deleted meanwhile
    throw err
  }
  res.writeHead(200, { ...headers, 'Content-Type': RAW_MEDIA_TYPE, 'Content-Length': String(bytes.length), 'Content-Disposition': `attachment; filename="${cid}.bin"` })
  res.end(req.method === 'HEAD' ? undefined : bytes)
}

/** A CAR's ETag: the root, the scope, and (hashed) the path and byte range, so each variant has its own. */
function carEtag (cid: CID, inside: string, wanted: Extract<Wanted, { format: 'car' }>): string {
  const variant = inside === '' && wanted.bytesText === undefined
    ? ''
    : '.' + createHash('sha256').update(`${inside}\0${wanted.bytesText ?? ''}`).digest('hex').slice(0, 16)
  return `"${cid}.car.${wanted.bytes !== undefined ? 'entity' : wanted.scope}${variant}"`
}

async function serveCar (
  store: GatewayComponents['store'], cid: CID, inside: string, wanted: Extract<Wanted, { format: 'car' }>, headers: Record<string, string>,
  req: IncomingMessage, res: ServerResponse
): Promise<void> {
  const blocks = scopedBlocks(store, cid, { path: inside, scope: wanted.scope, bytes: wanted.bytes })
  let first: IteratorResult<{ cid: CID, bytes: Uint8Array }>
  try {
    // the path is resolved and the root verified before the status line, so a bad path is a 404, not a cut stream
    first = await blocks.next()
  } catch (err) {
    if (err instanceof BlockNotFoundError) return refuse(res, 404, `${err.message}: this gateway does not hold the whole path`)
    if (err instanceof NotInDagError) return refuse(res, 404, err.message)
    throw err
  }
  res.writeHead(200, { ...headers, 'Content-Type': CAR_CONTENT_TYPE, 'Content-Disposition': `attachment; filename="${cid}.car"` })
  if (req.method === 'HEAD') {
    await blocks.return(undefined)
    res.end()
    return
  }
  async function * all (): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
    if (first.done !== true) yield first.value
    yield * blocks
  }
  // a block missing or corrupt further down throws here, the pipeline destroys the response, the client sees it cut
  await pipeline(Readable.from(carSections(cid, all())), res)
}

/** The answer to the probe CID: an empty block, or a CAR with that root and no blocks. */
async function probe (wanted: Wanted, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: Uint8Array = new Uint8Array(0)
  if (wanted.format === 'car') {
    const { writer, out } = CarWriter.create([CID.parse(PROBE_CID)])
    const closing = writer.close()
    const parts: Uint8Array[] = []
    for await (const part of out) parts.push(part)
    await closing
    body = Buffer.concat(parts)
  }
  res.writeHead(200, { 'Content-Type': wanted.format === 'raw' ? RAW_MEDIA_TYPE : CAR_CONTENT_TYPE, 'Content-Length': String(body.length) })
  res.end(req.method === 'HEAD' ? undefined : body)
}

/**
 * What the client asked for: `?format=` wins over Accept, as the spec says; in Accept the highest q wins, then
 * the first listed. CAR variants other than version 1, order dfs (or unk) and dups n are not produced. Otherwise
 * the status and reason of the refusal.
 */
function negotiate (url: URL, accept: string | undefined): Wanted | [number, string] {
  const format = url.searchParams.get('format')
  let kind: 'raw' | 'car' | undefined
  if (format !== null) {
    if (format !== 'raw' && format !== 'car') return [406, `format=${format} is not served: this trustless gateway serves raw and car`]
    kind = format
  } else if (accept === undefined || accept.trim() === '') {
    return [400, `this trustless gateway needs Accept: ${RAW_MEDIA_TYPE} or ${CAR_MEDIA_TYPE} (or ?format=raw or ?format=car)`]
  } else {
    kind = fromAccept(accept)
    if (kind === undefined) return [406, `none of ${JSON.stringify(accept)} is served: ask for ${RAW_MEDIA_TYPE} or ${CAR_CONTENT_TYPE}`]
  }
  if (kind === 'raw') return { format: 'raw' }
  const q = url.searchParams
  if (!carVariant(q.get('car-version'), q.get('car-order'), q.get('car-dups'))) return [406, 'only CARs of version 1, order dfs and dups n are served']
  const scope = q.get('dag-scope') ?? 'all'
  if (scope !== 'all' && scope !== 'block' && scope !== 'entity') return [400, `dag-scope=${scope} is not one of block, entity, all`]
  const bytesText = q.get('entity-bytes') ?? undefined
  if (bytesText === undefined) return { format: 'car', scope }
  try {
    return { format: 'car', scope: 'entity', bytes: parseEntityBytes(bytesText), bytesText }
  } catch (err) {
    if (err instanceof InvalidOptionError) return [400, err.message]
    throw err
  }
}

/** The best of raw and CAR an Accept header lists, if any. */
function fromAccept (accept: string): 'raw' | 'car' | undefined {
  let best: { kind: 'raw' | 'car', q: number } | undefined
  for (const range of accept.split(',')) {
    const [type = '', ...rest] = range.split(';').map(s => s.trim())
    const params = new Map(rest.map(p => {
      const eq = p.indexOf('=')
      return eq < 0 ? [p.toLowerCase(), ''] : [p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1')]
    }))
    const q = params.has('q') ? Number(params.get('q')) : 1
    const media = type.toLowerCase()
    const kind = media === RAW_MEDIA_TYPE
      ? 'raw'
      : media === CAR_MEDIA_TYPE && carVariant(params.get('version'), params.get('order'), params.get('dups')) ? 'car' : undefined
    if (kind === undefined || !(q > 0)) continue
    if (best === undefined || q > best.q) best = { kind, q }
  }
  return best?.kind
}

/** Whether a CAR with these parameters (absent: any) is one this gateway produces. */
function carVariant (version?: string | null, order?: string | null, dups?: string | null): boolean {
  return (version ?? '1') === '1' && ['dfs', 'unk'].includes(order ?? 'dfs') && (dups ?? 'n') === 'n'
}

function refuse (res: ServerResponse, status: number, reason: string): void {
  const body = reason + '\n'
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) })
  res.end(body)
}
