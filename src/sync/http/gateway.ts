import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { CID } from 'multiformats/cid'
import { createHash } from 'node:crypto'
import { carSections } from '../../dag/car.js'
import { scopedBlocks } from '../../dag/car-scope.js'
import { parseCid } from '../../dag/cid.js'
import { getVerified } from '../../dag/verify.js'
import { BlockNotFoundError, IdentityTooLargeError, InvalidCidError, InvalidOptionError, NotInDagError } from '../../errors.js'
import { HASH_IDENTITY } from '../../store/constants.js'
import type { Blockstore } from '../../store/interface.js'
import {
  CAR_CONTENT_TYPE,
  CAR_DUPS_CONTENT_TYPE,
  DEFAULT_GATEWAY_HOST,
  DEFAULT_GATEWAY_PORT,
  IMMUTABLE_CACHE_CONTROL,
  MAX_DUPS_BLOCKS,
  RAW_MEDIA_TYPE
} from './constants.js'
import { negotiate, type CarWanted, type Wanted } from './negotiate.js'

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

/**
 * Serve the store's blocks as an IPFS trustless gateway (specs.ipfs.tech/http-gateways/trustless-gateway):
 * `GET`/`HEAD /ipfs/{cid}` with `?format=raw` or `Accept: application/vnd.ipld.raw` answers the block (a single
 * `Range` gets a 206), and `/ipfs/{cid}[/{path}]` with `?format=car` or `Accept: application/vnd.ipld.car` a CARv1
 * (depth-first; each block once, or with `dups=y` every time it is reached) of the blocks that resolve the path,
 * then of what is at its end as `dag-scope` (block, entity, all) and `entity-bytes` ask (dag/car-scope.ts), in
 * cmesh's format or UnixFS, streamed. Every block is verified against its CID before it is sent: a corrupt block
 * is answered 500 or, in the middle of a CAR, cuts the connection. Identity CIDs are answered from the CID and
 * never put in a CAR. It is trustless only: nothing is served deserialized, so a request naming neither format is
 * refused (400 without Accept, 406 otherwise); and non-recursive: what the store lacks is a 404, never fetched.
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
  if (!('format' in wanted)) return refuse(res, wanted.status, wanted.reason)
  let inside: string
  try {
    inside = (path[2] ?? '').split('/').filter(p => p !== '').map(p => decodeURIComponent(p)).join('/')
  } catch {
    return refuse(res, 400, `the path ${JSON.stringify(path[2])} is not well-formed`)
  }
  if (inside !== '' && wanted.format === 'raw') return refuse(res, 400, 'a block is asked for by its CID alone: paths are for CAR requests (format=car)')
  let cid: CID
  try {
    cid = parseCid(path[1]!)
  } catch (err) {
    // not a CID, a codec or hash cmesh never holds, or an identity CID past the inline cap
    if (err instanceof InvalidCidError || err instanceof IdentityTooLargeError) return refuse(res, 400, err.message)
    throw err
  }
  if (!await store.has(cid)) {
    // only-if-cached: the client asks whether this gateway holds the root, not for it to be found elsewhere (412)
    const onlyIfCached = /(^|,)\s*only-if-cached\s*(,|$)/i.test(req.headers['cache-control'] ?? '')
    return refuse(res, onlyIfCached ? 412 : 404, `block ${cid} is not held here`)
  }

  const etag = wanted.format === 'raw' ? `"${cid}.raw"` : carEtag(cid, inside, wanted)
  const headers: Record<string, string> = {
    'Cache-Control': IMMUTABLE_CACHE_CONTROL,
    ETag: etag,
    Vary: 'Accept',
    'X-Ipfs-Path': url.pathname,
    'Content-Disposition': disposition(url.searchParams.get('filename') ?? `${cid}.${wanted.format === 'raw' ? 'bin' : 'car'}`)
  }
  // the roots of the path's segments are known before the status line only when there is no path
  if (inside === '') headers['X-Ipfs-Roots'] = cid.toString()
  const location = contentLocation(url, wanted)
  if (location !== undefined) headers['Content-Location'] = location
  if (req.headers['if-none-match']?.split(',').some(tag => tag.trim() === etag || tag.trim() === '*') === true) {
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
  headers['Content-Type'] = RAW_MEDIA_TYPE
  headers['Accept-Ranges'] = 'bytes'
  const range = byteRange(req.headers.range, bytes.length)
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${bytes.length}`, 'Content-Length': '0' }).end()
    return
  }
  if (range !== undefined) {
    bytes = bytes.subarray(range.first, range.last + 1)
    headers['Content-Range'] = `bytes ${range.first}-${range.last}/${range.size}`
  }
  res.writeHead(range === undefined ? 200 : 206, { ...headers, 'Content-Length': String(bytes.length) })
  res.end(req.method === 'HEAD' ? undefined : bytes)
}

/**
 * The URL that names the response negotiated (path gateway spec, "Content-Location"): sent when Accept chose what
 * the URL does not say, the format or blocks repeating (dups=y), so caches keep the variants apart.
 */
function contentLocation (url: URL, wanted: Wanted): string | undefined {
  const query = new URLSearchParams(url.searchParams)
  query.set('format', wanted.format)
  if (wanted.format === 'car' && wanted.dups) query.set('car-dups', 'y')
  return query.toString() === url.searchParams.toString() ? undefined : `${url.pathname}?${query.toString()}`
}

/**
 * `attachment`, so a browser never renders the bytes, with the file name: ASCII (others and quotes as `_`) and,
 * when it is not plain ASCII, the UTF-8 name percent-encoded too (RFC 8187), as the path gateway spec shows.
 */
function disposition (name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/gu, '_')
  return ascii === name ? `attachment; filename="${name}"` : `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`
}

/**
 * A single `Range: bytes=` range over `size` bytes (RFC 9110 14.1.2): its first and last byte, 'unsatisfiable',
 * or undefined for none, several ranges or a malformed one (the whole block is then sent, as the RFC allows).
 */
function byteRange (header: string | undefined, size: number): { first: number, last: number, size: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header?.trim() ?? '')
  if (m === null || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') { // the last N bytes
    const n = Number(m[2])
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { first: Math.max(0, size - n), last: size - 1, size }
  }
  const first = Number(m[1])
  const last = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]))
  if (m[2] !== '' && Number(m[2]) < first) return undefined
  if (first >= size) return 'unsatisfiable'
  return { first, last, size }
}

/** A CAR's ETag: the root, the scope, duplicates, and (hashed) the path and byte range, so each variant has its own. */
function carEtag (cid: CID, inside: string, wanted: CarWanted): string {
  const variant = inside === '' && wanted.bytesText === undefined
    ? ''
    : '.' + createHash('sha256').update(`${inside}\0${wanted.bytesText ?? ''}`).digest('hex').slice(0, 16)
  return `"${cid}.car.${wanted.bytes !== undefined ? 'entity' : wanted.scope}${wanted.dups ? '.dups' : ''}${variant}"`
}

async function serveCar (
  store: GatewayComponents['store'], cid: CID, inside: string, wanted: CarWanted, headers: Record<string, string>,
  req: IncomingMessage, res: ServerResponse
): Promise<void> {
  const blocks = scopedBlocks(store, cid, { path: inside, scope: wanted.scope, bytes: wanted.bytes, dups: wanted.dups, maxBlocks: MAX_DUPS_BLOCKS })
  let first: IteratorResult<{ cid: CID, bytes: Uint8Array }>
  try {
    // the path is resolved and the root verified before the status line, so a bad path is a 404, not a cut stream
    first = await blocks.next()
  } catch (err) {
    if (err instanceof BlockNotFoundError) return refuse(res, 404, `${err.message}: this gateway does not hold the whole path`)
    if (err instanceof NotInDagError) return refuse(res, 404, err.message)
    if (err instanceof InvalidOptionError) return refuse(res, 400, err.message) // entity-bytes past the end of the file
    throw err
  }
  res.writeHead(200, { ...headers, 'Content-Type': wanted.dups ? CAR_DUPS_CONTENT_TYPE : CAR_CONTENT_TYPE, 'Accept-Ranges': 'none' })
  if (req.method === 'HEAD') {
    await blocks.return(undefined)
    res.end()
    return
  }
  async function * all (): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
    if (first.done !== true) yield first.value
    yield * blocks
  }
  async function * stored (): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
    // an identity CID's bytes are in the CID that links it: the spec forbids sending them as a block
    for await (const b of all()) if (b.cid.multihash.code !== HASH_IDENTITY) yield b
  }
  // a block missing or corrupt further down throws here, the pipeline destroys the response, the client sees it cut
  await pipeline(Readable.from(carSections(cid, stored())), res)
}

function refuse (res: ServerResponse, status: number, reason: string): void {
  const body = reason + '\n'
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) })
  res.end(body)
}
