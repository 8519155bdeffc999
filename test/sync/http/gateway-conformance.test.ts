import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CarBlockIterator } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { verifyBlock } from '../../../src/dag/verify.js'
import { createStore } from '../../../src/store/index.js'
import type { Blockstore } from '../../../src/store/interface.js'
import { startGateway, type Gateway } from '../../../src/sync/http/gateway.js'
import { at, blocks, bytesOf, descendants, hamtFind, ids, root, shards } from '../../helpers/gateway-conformance.js'

/**
 * The trustless gateway checked against the expectations of ipfs/gateway-conformance (tests/trustless_gateway_car_test.go
 * and trustless_gateway_raw_test.go), on its own fixture CARs, and against the spec's other MUSTs and SHOULDs. Each
 * case names the section of specs.ipfs.tech/http-gateways it checks. What a response must hold is computed here from
 * the fixtures with @ipld/dag-pb and ipfs-unixfs, not with cmesh's reader (test/helpers/gateway-conformance.ts).
 */

const TRUSTLESS = 'https://specs.ipfs.tech/http-gateways/trustless-gateway/'
const PATH_GW = 'https://specs.ipfs.tech/http-gateways/path-gateway/'
const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'

interface Response {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Uint8Array
}

/** A request with exactly these headers (fetch adds an Accept of its own, which some cases must not send). */
async function send (url: string, method: string, headers: Record<string, string>): Promise<Response> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, res => {
      const parts: Buffer[] = []
      res.on('data', (p: Buffer) => parts.push(p))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** A CAR body's blocks, each checked against its CID. */
async function carBlocks (body: Uint8Array): Promise<{ roots: string[], blocks: string[] }> {
  const iterator = await CarBlockIterator.fromBytes(body)
  const out: string[] = []
  for await (const b of iterator) {
    await verifyBlock(b.cid, b.bytes)
    out.push(b.cid.toString())
  }
  return { roots: (await iterator.getRoots()).map(String), blocks: out }
}

type HeaderCheck = string | RegExp | null | ((value: string) => boolean)

interface Case {
  /** The spec section (URL fragment) or conformance test the case checks. */
  spec: string
  name: string
  path: string
  query?: Record<string, string>
  headers?: Record<string, string>
  method?: string
  status: number
  /** The CAR's blocks, exactly and in this order (`anyOrder`: the same set, order free, duplicates allowed). */
  blocks?: string[]
  anyOrder?: boolean
  body?: Uint8Array
  expectHeaders?: Record<string, HeaderCheck>
  /** Also ask with `Accept: application/vnd.ipld.car` instead of `?format=car`, and check the headers every CAR carries. */
  standardCar?: boolean
}

/** Headers every CAR response carries (gateway-conformance tooling/helpers/car.go, carResponseHeaders). */
const CAR_HEADERS: Record<string, HeaderCheck> = {
  'x-content-type-options': 'nosniff',
  'accept-ranges': 'none',
  'content-type': v => v.startsWith(CAR),
  'content-disposition': /^attachment; filename=".*\.car"$/,
  etag: v => v.length > 2
}

const twoFiles = root('subdir-with-two-single-block-files')
const hamt = root('single-layer-hamt-with-multi-block-files')
const mixed = root('subdir-with-mixed-block-files')
const multiblock = at(mixed, 'subdir', 'multiblock.txt')
const mbLeaves = descendants(multiblock)
const dupDir = root('dir-with-duplicate-files')
const missing = root('file-3k-and-3-blocks-missing-block')
const rawDir = root('gateway-raw-block')
const ascii = at(rawDir, 'dir', 'ascii.txt')
const withCbor = root('dir-with-dag-cbor-with-links')
const document = at(withCbor, 'document')
const documentFiles = (dagCbor.decode(bytesOf(document)) as { files: Record<string, CID> }).files
const identityCid = CID.parse('bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa')
const tooLong = CID.createV1(0x55, identity.digest(new Uint8Array(129).fill(7)))
const hamt685 = hamtFind(hamt, '685.txt')!
const hamt1 = hamtFind(hamt, '1.txt')!
const cacheControl = (v: string): boolean => {
  const d = new Map(v.replace(/ /g, '').split(',').map(x => { const [k = '', value] = x.split('='); return [k, value] as const }))
  return d.has('public') && d.has('immutable') && Number(d.get('max-age')) >= 29030400
}

const CASES: Case[] = [
  // TestTrustlessRaw
  { spec: `${TRUSTLESS}#block-responses-application-vnd-ipld-raw`, name: 'GET with format=raw returns a raw block', path: `/ipfs/${at(rawDir, 'dir')}`, query: { format: 'raw' }, status: 200, body: bytesOf(at(rawDir, 'dir')) },
  { spec: `${TRUSTLESS}#accept-request-header`, name: 'GET with Accept: application/vnd.ipld.raw returns a raw block', path: `/ipfs/${at(rawDir, 'dir')}`, headers: { accept: RAW }, status: 200, body: bytesOf(at(rawDir, 'dir')) },
  {
    spec: `${TRUSTLESS}#response-headers`,
    name: 'a raw block comes with its Content-Type, Content-Length, attachment and nosniff',
    path: `/ipfs/${ascii}`,
    headers: { accept: RAW },
    status: 200,
    body: bytesOf(ascii),
    expectHeaders: { 'content-type': RAW, 'content-length': String(bytesOf(ascii).length), 'content-disposition': `attachment; filename="${ascii}.bin"`, 'x-content-type-options': 'nosniff' }
  },
  { spec: `${PATH_GW}#filename-request-query-parameter`, name: 'the filename parameter names the attachment', path: `/ipfs/${ascii}`, query: { filename: 'foobar.bin' }, headers: { accept: RAW }, status: 200, expectHeaders: { 'content-disposition': 'attachment; filename="foobar.bin"' } },
  {
    spec: `${PATH_GW}#content-disposition-response-header`,
    name: 'a non-ASCII filename is sent as ASCII and as UTF-8',
    path: `/ipfs/${ascii}`,
    query: { filename: 'testтест.bin' },
    headers: { accept: RAW },
    status: 200,
    expectHeaders: { 'content-disposition': 'attachment; filename="test____.bin"; filename*=UTF-8\'\'test%D1%82%D0%B5%D1%81%D1%82.bin' }
  },
  {
    spec: `${PATH_GW}#cache-control-response-header`,
    name: 'a raw block is immutable, with its Etag, X-Ipfs-Path and X-Ipfs-Roots',
    path: `/ipfs/${ascii}`,
    headers: { accept: RAW },
    status: 200,
    expectHeaders: { etag: `"${ascii}.raw"`, 'x-ipfs-path': `/ipfs/${ascii}`, 'x-ipfs-roots': String(ascii), 'cache-control': cacheControl, vary: 'Accept' }
  },
  {
    spec: `${PATH_GW}#range-request-header`,
    name: 'a single Range of a raw block is answered 206 with its Content-Range',
    path: `/ipfs/${ascii}`,
    headers: { accept: RAW, range: 'bytes=2-9' },
    status: 206,
    body: bytesOf(ascii).subarray(2, 10),
    expectHeaders: { 'content-range': `bytes 2-9/${bytesOf(ascii).length}`, 'content-length': '8' }
  },
  { spec: `${PATH_GW}#range-request-header`, name: 'a suffix Range of a raw block sends its last bytes', path: `/ipfs/${ascii}`, headers: { accept: RAW, range: 'bytes=-4' }, status: 206, body: bytesOf(ascii).subarray(-4) },
  { spec: `${PATH_GW}#range-request-header`, name: 'a Range past the end of a raw block is a 416', path: `/ipfs/${ascii}`, headers: { accept: RAW, range: 'bytes=9999-' }, status: 416, expectHeaders: { 'content-range': `bytes */${bytesOf(ascii).length}` } },
  { spec: `${PATH_GW}#range-request-header`, name: 'several ranges of a raw block get the whole block (200), as HTTP allows', path: `/ipfs/${ascii}`, headers: { accept: RAW, range: 'bytes=0-1,4-5' }, status: 200, body: bytesOf(ascii) },

  // TestTrustlessCarPathing
  {
    spec: `${TRUSTLESS}#get-ipfs-cid-path-params`,
    name: 'default CAR response with pathing through a UnixFS directory',
    path: `/ipfs/${twoFiles}/subdir/ascii.txt`,
    query: { format: 'car' },
    standardCar: true,
    status: 200,
    blocks: ids(twoFiles, at(twoFiles, 'subdir'), at(twoFiles, 'subdir', 'ascii.txt'))
  },
  {
    spec: `${TRUSTLESS}#get-ipfs-cid-path-params`,
    name: 'default CAR response of a UnixFS file on a path with a HAMT-sharded directory',
    path: `/ipfs/${hamt}/685.txt`,
    query: { format: 'car' },
    standardCar: true,
    status: 200,
    blocks: ids(hamt, hamt685.trail, hamt685.cid, descendants(hamt685.cid))
  },
  {
    spec: `${PATH_GW}#traversing-through-dag-json-and-dag-cbor`,
    name: 'default CAR response of a UnixFS file on a path with DAG-CBOR as root CID',
    path: `/ipfs/${document}/files/single`,
    query: { format: 'car' },
    standardCar: true,
    status: 200,
    blocks: ids(document, documentFiles.single!)
  },
  {
    spec: `${PATH_GW}#traversing-through-dag-json-and-dag-cbor`,
    name: 'a chunked UnixFS file on a path through DAG-CBOR: the document, then the whole file',
    path: `/ipfs/${document}/files/multiblock`,
    query: { format: 'car' },
    standardCar: true,
    status: 200,
    blocks: ids(document, documentFiles.multiblock!, descendants(documentFiles.multiblock!))
  },
  { spec: `${PATH_GW}#handling-traversal-errors`, name: 'a DAG-CBOR path that ends on a value, not a link: 404', path: `/ipfs/${document}/cats`, query: { format: 'car' }, status: 404 },
  { spec: `${PATH_GW}#handling-traversal-errors`, name: 'a DAG-CBOR path to a key it does not have: 404', path: `/ipfs/${document}/files/none`, query: { format: 'car' }, status: 404 },
  {
    spec: `${PATH_GW}#handling-traversal-errors`,
    name: 'default CAR response for a file that does not exist is a 404 (the path is resolved before streaming)',
    path: `/ipfs/${twoFiles}/subdir/i-do-not-exist`,
    query: { format: 'car' },
    standardCar: true,
    status: 404
  },

  // TestTrustlessCarDagScopeBlock
  { spec: `${TRUSTLESS}#dag-scope-request-query-parameter`, name: 'dag-scope=block of a UnixFS directory on a path', path: `/ipfs/${twoFiles}/subdir`, query: { format: 'car', 'dag-scope': 'block' }, standardCar: true, status: 200, blocks: ids(twoFiles, at(twoFiles, 'subdir')) },
  {
    spec: `${TRUSTLESS}#dag-scope-request-query-parameter`,
    name: 'dag-scope=block of a UnixFS file on a path',
    path: `/ipfs/${twoFiles}/subdir/ascii.txt`,
    query: { format: 'car', 'dag-scope': 'block' },
    standardCar: true,
    status: 200,
    blocks: ids(twoFiles, at(twoFiles, 'subdir'), at(twoFiles, 'subdir', 'ascii.txt'))
  },
  { spec: `${TRUSTLESS}#dag-scope-request-query-parameter`, name: 'dag-scope=block of a UnixFS file on a path with a sharded directory', path: `/ipfs/${hamt}/1.txt`, query: { format: 'car', 'dag-scope': 'block' }, standardCar: true, status: 200, blocks: ids(hamt, hamt1.trail, hamt1.cid) },

  // TestTrustlessCarDagScopeEntity
  { spec: `${TRUSTLESS}#dag-scope-request-query-parameter`, name: 'dag-scope=entity of a UnixFS directory', path: `/ipfs/${twoFiles}`, query: { format: 'car', 'dag-scope': 'entity' }, standardCar: true, status: 200, blocks: ids(twoFiles) },
  { spec: `${TRUSTLESS}#dag-scope-request-query-parameter`, name: 'dag-scope=entity of a UnixFS sharded directory', path: `/ipfs/${hamt}`, query: { format: 'car', 'dag-scope': 'entity' }, standardCar: true, status: 200, blocks: ids(hamt, shards(hamt)) },
  {
    spec: `${TRUSTLESS}#dag-scope-request-query-parameter`,
    name: 'dag-scope=entity of a UnixFS file',
    path: `/ipfs/${mixed}/subdir/ascii.txt`,
    query: { format: 'car', 'dag-scope': 'entity' },
    standardCar: true,
    status: 200,
    blocks: ids(mixed, at(mixed, 'subdir'), at(mixed, 'subdir', 'ascii.txt'))
  },
  {
    spec: `${TRUSTLESS}#dag-scope-request-query-parameter`,
    name: 'dag-scope=entity of a chunked UnixFS file',
    path: `/ipfs/${mixed}/subdir/multiblock.txt`,
    query: { format: 'car', 'dag-scope': 'entity' },
    standardCar: true,
    status: 200,
    blocks: ids(mixed, at(mixed, 'subdir'), multiblock, mbLeaves)
  },
  {
    spec: `${TRUSTLESS}#dag-scope-request-query-parameter`,
    name: 'dag-scope=entity of DAG-CBOR with links sends the document, not what it links',
    path: `/ipfs/${withCbor}/document`,
    query: { format: 'car', 'dag-scope': 'entity' },
    standardCar: true,
    status: 200,
    blocks: ids(withCbor, document)
  },

  // TestTrustlessCarDagScopeAll
  { spec: `${TRUSTLESS}#dag-scope-request-query-parameter`, name: 'dag-scope=all of a UnixFS directory with several files', path: `/ipfs/${mixed}/subdir`, query: { format: 'car', 'dag-scope': 'all' }, standardCar: true, status: 200, blocks: ids(mixed, at(mixed, 'subdir'), descendants(at(mixed, 'subdir'))) },
  { spec: `${TRUSTLESS}#dag-scope-request-query-parameter`, name: 'dag-scope=all of a chunked UnixFS file', path: `/ipfs/${mixed}/subdir/multiblock.txt`, query: { format: 'car', 'dag-scope': 'all' }, standardCar: true, status: 200, blocks: ids(mixed, at(mixed, 'subdir'), multiblock, mbLeaves) },

  // TestTrustlessCarEntityBytes
  {
    spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`,
    name: 'entity-bytes succeeds though the gateway lacks a block after the range',
    path: `/ipfs/${missing}`,
    query: { format: 'car', 'dag-scope': 'entity', 'entity-bytes': '0:1000' },
    standardCar: true,
    status: 200,
    blocks: ids(missing, 'QmPKt7ptM2ZYSGPUc8PmPT2VBkLDK3iqpG9TBJY7PCE9rF')
  },
  {
    spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`,
    name: 'entity-bytes succeeds though the gateway lacks a block before the range',
    path: `/ipfs/${missing}`,
    query: { format: 'car', 'dag-scope': 'entity', 'entity-bytes': '2200:*' },
    standardCar: true,
    status: 200,
    blocks: ids(missing, 'QmWXY482zQdwecnfBsj78poUUuPXvyw2JAFAEMw4tzTavV')
  },
  {
    spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`,
    name: 'entity-bytes=0:* of a UnixFS file on a path is the whole file',
    path: `/ipfs/${mixed}/subdir/multiblock.txt`,
    query: { format: 'car', 'dag-scope': 'entity', 'entity-bytes': '0:*' },
    standardCar: true,
    status: 200,
    blocks: ids(mixed, at(mixed, 'subdir'), multiblock, mbLeaves)
  },
  { spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`, name: 'entity-bytes of a UnixFS directory is ignored (dag-scope=entity)', path: `/ipfs/${hamt}`, query: { format: 'car', 'dag-scope': 'entity', 'entity-bytes': '0:*' }, standardCar: true, status: 200, blocks: ids(hamt, shards(hamt)) },
  ...([
    ['512:*', 'from the middle of a file to its end', mbLeaves.slice(2)],
    ['512:1023', 'for the middle of a file', mbLeaves.slice(2, 4)],
    ['512:-256', 'for the middle of a file (negative end)', mbLeaves.slice(2, 4)],
    ['-5:*', 'for the last bytes of a file (suffix)', mbLeaves.slice(3)],
    ['-9999:*', 'from further before the start than the file is long: the whole file', mbLeaves],
    ['-9999:-3', 'from before the start to 3 bytes before the end', mbLeaves.slice(0, 4)],
    ['0:0', 'for the first byte: the first leaf alone', mbLeaves.slice(0, 1)]
  ] as const).map(([range, what, leaves]): Case => ({
    spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`,
    name: `entity-bytes=${range} ${what}`,
    path: `/ipfs/${multiblock}`,
    query: { format: 'car', 'dag-scope': 'entity', 'entity-bytes': range },
    standardCar: true,
    status: 200,
    blocks: ids(multiblock, [...leaves])
  })),
  { spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`, name: 'entity-bytes starting past the end of a file, known up front: 400', path: `/ipfs/${multiblock}`, query: { format: 'car', 'entity-bytes': '5000:*' }, status: 400 },
  {
    spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`,
    name: 'entity-bytes empty once its negative end is resolved answers as dag-scope=block',
    path: `/ipfs/${multiblock}`,
    query: { format: 'car', 'entity-bytes': '100:-2000' },
    status: 200,
    blocks: ids(multiblock)
  },
  { spec: `${TRUSTLESS}#entity-bytes-request-query-parameter`, name: 'entity-bytes that are not from:to are a 400', path: `/ipfs/${multiblock}`, query: { format: 'car', 'entity-bytes': '9:3' }, status: 400 },

  // TestTrustlessCarOrderAndDuplicates
  {
    spec: `${TRUSTLESS}#car-dups-content-type-parameter`,
    name: 'order=dfs and dups=y of a directory with duplicate files sends a block every time it is reached',
    path: `/ipfs/${dupDir}`,
    headers: { accept: `${CAR}; version=1; order=dfs; dups=y` },
    status: 200,
    blocks: ids(dupDir, descendants(dupDir, true)),
    expectHeaders: { 'content-type': `${CAR}; version=1; order=dfs; dups=y`, 'content-location': `/ipfs/${dupDir}?format=car&car-dups=y`, etag: `"${dupDir}.car.all.dups"` }
  },
  {
    spec: `${TRUSTLESS}#car-dups-content-type-parameter`,
    name: 'order=dfs and dups=n of a directory with duplicate files sends each block once',
    path: `/ipfs/${dupDir}`,
    headers: { accept: `${CAR}; version=1; order=dfs; dups=n` },
    status: 200,
    blocks: ids(dupDir, descendants(dupDir)),
    expectHeaders: { 'content-type': `${CAR}; version=1; order=dfs; dups=n`, 'content-location': `/ipfs/${dupDir}?format=car` }
  },
  {
    spec: `${TRUSTLESS}#car-order-content-type-parameter`,
    name: 'order=unk is answered with an explicit order',
    path: `/ipfs/${dupDir}`,
    headers: { accept: `${CAR}; version=1; order=unk` },
    status: 200,
    anyOrder: true,
    blocks: ids(dupDir, descendants(dupDir)),
    expectHeaders: { 'content-type': v => /order=(dfs|unk)/.test(v) }
  },
  {
    spec: `${TRUSTLESS}#car-dups-content-type-parameter`,
    name: 'an identity CID is never a block in a CAR, even with dups=y',
    path: `/ipfs/${identityCid}`,
    headers: { accept: `${CAR}; dups=y` },
    status: 200,
    blocks: [],
    expectHeaders: { 'content-type': v => v.includes('dups=y') }
  },
  {
    spec: `${TRUSTLESS}#format-request-query-parameter`,
    name: '?format=car keeps the order and dups of the Accept header',
    path: `/ipfs/${dupDir}`,
    query: { format: 'car' },
    headers: { accept: `${CAR}; version=1; order=dfs; dups=y` },
    status: 200,
    blocks: ids(dupDir, descendants(dupDir, true)),
    expectHeaders: { 'content-type': v => v.includes('order=dfs') && v.includes('dups=y'), 'content-location': `/ipfs/${dupDir}?format=car&car-dups=y` }
  },
  { spec: `${TRUSTLESS}#car-order-request-query-parameter`, name: '?car-order=dfs takes precedence over order=unk in Accept', path: `/ipfs/${dupDir}`, query: { format: 'car', 'car-order': 'dfs' }, headers: { accept: `${CAR}; order=unk` }, status: 200, expectHeaders: { 'content-type': v => v.includes('order=dfs') } },
  {
    spec: `${TRUSTLESS}#car-dups-request-query-parameter`,
    name: '?car-dups=y takes precedence over dups=n in Accept',
    path: `/ipfs/${dupDir}`,
    query: { format: 'car', 'car-dups': 'y' },
    headers: { accept: `${CAR}; dups=n` },
    status: 200,
    blocks: ids(dupDir, descendants(dupDir, true)),
    expectHeaders: { 'content-type': v => v.includes('dups=y'), 'content-location': null }
  },

  // TestTrustlessCarFormatPrecedence
  { spec: `${TRUSTLESS}#format-request-query-parameter`, name: 'format=car takes precedence over Accept: raw', path: `/ipfs/${at(rawDir, 'dir')}`, query: { format: 'car' }, headers: { accept: RAW }, status: 200, expectHeaders: { 'content-type': v => v.startsWith(CAR) } },
  { spec: `${TRUSTLESS}#format-request-query-parameter`, name: 'format=raw takes precedence over Accept: car', path: `/ipfs/${at(rawDir, 'dir')}`, query: { format: 'raw' }, headers: { accept: CAR }, status: 200, expectHeaders: { 'content-type': RAW } },

  // the spec's other requirements
  { spec: `${TRUSTLESS}#accept-request-header`, name: 'no Accept and no format: 400 (strict trustless, no deserialized responses)', path: `/ipfs/${ascii}`, status: 400 },
  { spec: `${TRUSTLESS}#accept-request-header`, name: 'in Accept the highest q wins', path: `/ipfs/${ascii}`, headers: { accept: `${RAW};q=0.4, ${CAR};q=0.9` }, status: 200, expectHeaders: { 'content-type': v => v.startsWith(CAR), 'content-location': `/ipfs/${ascii}?format=car` } },
  { spec: `${TRUSTLESS}#accept-request-header`, name: 'a CAR variant not produced (version=2) is passed over for the next', path: `/ipfs/${ascii}`, headers: { accept: `${CAR}; version=2, ${RAW};q=0.1` }, status: 200, expectHeaders: { 'content-type': RAW, 'content-location': `/ipfs/${ascii}?format=raw` } },
  { spec: `${TRUSTLESS}#car-format-signaling-in-response`, name: 'only a CAR variant not produced: 406', path: `/ipfs/${ascii}`, headers: { accept: `${CAR}; version=2` }, status: 406 },
  { spec: `${TRUSTLESS}#car-version-request-query-parameter`, name: 'car-version=2: 406', path: `/ipfs/${ascii}`, query: { format: 'car', 'car-version': '2' }, status: 406 },
  { spec: `${TRUSTLESS}#car-dups-content-type-parameter`, name: 'dups=y with entity-bytes is not produced: 406', path: `/ipfs/${multiblock}`, query: { format: 'car', 'entity-bytes': '0:9', 'car-dups': 'y' }, status: 406 },
  { spec: `${PATH_GW}#406-not-acceptable`, name: 'Accept: text/html on a trustless-only gateway: 406', path: `/ipfs/${ascii}`, headers: { accept: 'text/html' }, status: 406 },
  { spec: `${PATH_GW}#400-bad-request`, name: 'a CID that does not parse: 400', path: '/ipfs/not-a-cid', query: { format: 'raw' }, status: 400 },
  { spec: `${PATH_GW}#400-bad-request`, name: 'an identity CID over 128 inline bytes: 400', path: `/ipfs/${tooLong}`, query: { format: 'raw' }, status: 400 },
  { spec: `${TRUSTLESS}#get-ipfs-cid-path-params`, name: 'a raw block is asked for by CID alone: a path is a 400', path: `/ipfs/${twoFiles}/subdir`, query: { format: 'raw' }, status: 400 },
  { spec: `${TRUSTLESS}#404-not-found`, name: 'a root block not held: 404 (non-recursive)', path: `/ipfs/${CID.parse('QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W').toV1()}`, query: { format: 'raw' }, status: 404 },
  { spec: `${TRUSTLESS}#cache-control-only-if-cached-request-header`, name: 'only-if-cached and the root is not held: 412', path: '/ipfs/QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W', query: { format: 'car' }, headers: { 'cache-control': 'only-if-cached' }, status: 412 },
  { spec: `${TRUSTLESS}#cache-control-only-if-cached-request-header`, name: 'only-if-cached and the root is held: HEAD 200', method: 'HEAD', path: `/ipfs/${ascii}`, query: { format: 'raw' }, headers: { 'cache-control': 'only-if-cached' }, status: 200 },
  { spec: `${PATH_GW}#http-api`, name: 'a method other than GET and HEAD: 405 with Allow', method: 'POST', path: `/ipfs/${ascii}`, query: { format: 'raw' }, status: 405, expectHeaders: { allow: 'GET, HEAD' } },
  {
    spec: `${TRUSTLESS}#head-ipfs-cid-path-params`,
    name: 'HEAD of a CAR: the headers of GET, no body',
    method: 'HEAD',
    path: `/ipfs/${mixed}/subdir`,
    query: { format: 'car' },
    status: 200,
    body: new Uint8Array(0),
    expectHeaders: { ...CAR_HEADERS, 'x-ipfs-path': `/ipfs/${mixed}/subdir`, 'x-ipfs-roots': null }
  },
  { spec: `${TRUSTLESS}#head-ipfs-cid-path-params`, name: 'HEAD of a raw block: its length, no body', method: 'HEAD', path: `/ipfs/${ascii}`, query: { format: 'raw' }, status: 200, body: new Uint8Array(0), expectHeaders: { 'content-length': String(bytesOf(ascii).length) } },
  { spec: `${PATH_GW}#if-none-match-request-header`, name: 'If-None-Match with the Etag: 304, no body', path: `/ipfs/${ascii}`, query: { format: 'raw' }, headers: { 'if-none-match': `"${ascii}.raw"` }, status: 304, body: new Uint8Array(0) },
  { spec: `${TRUSTLESS}#get-ipfs-bafkqaaa`, name: 'the probe CID as a raw block: 200, empty', path: '/ipfs/bafkqaaa', query: { format: 'raw' }, status: 200, body: new Uint8Array(0) },
  { spec: `${TRUSTLESS}#get-ipfs-bafkqaaa`, name: 'the probe CID as a CAR: 200, roots bafkqaaa, no block', path: '/ipfs/bafkqaaa', query: { format: 'car' }, status: 200, blocks: [] },
  { spec: `${PATH_GW}#400-bad-request`, name: 'an identity CID as a raw block: its inline bytes', path: `/ipfs/${identityCid}`, query: { format: 'raw' }, status: 200, body: identityCid.multihash.digest }
]

describe('trustless gateway against the gateway-conformance expectations', () => {
  let dir: string
  let store: Blockstore
  let gw: Gateway
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmesh-conformance-'))
    store = createStore({ repo: join(dir, 'repo') })
    for (const [key, bytes] of blocks) await store.put(CID.parse(key), bytes)
    gw = await startGateway({ store })
  })
  after(async () => {
    await gw.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  for (const c of CASES) {
    const variants: Array<{ label: string, query?: Record<string, string>, headers?: Record<string, string> }> = [{ label: '', query: c.query, headers: c.headers }]
    if (c.standardCar === true) {
      const { format: _, ...rest } = c.query ?? {}
      variants.push({ label: ' (Accept header)', query: rest, headers: { ...c.headers, accept: CAR } })
    }
    for (const v of variants) {
      it(`${c.spec}: ${c.name}${v.label}`, async () => {
        const query = new URLSearchParams(v.query).toString()
        const res = await send(`${gw.url}${c.path}${query === '' ? '' : `?${query}`}`, c.method ?? 'GET', v.headers ?? {})
        assert.equal(res.status, c.status, new TextDecoder().decode(res.body))
        const expect = c.standardCar === true && c.status === 200 ? { ...CAR_HEADERS, ...c.expectHeaders } : c.expectHeaders ?? {}
        for (const [name, check] of Object.entries(expect)) {
          const value = res.headers[name]
          if (check === null) { assert.equal(value, undefined, `no ${name}`); continue }
          assert.equal(typeof value, 'string', `${name} is sent`)
          if (typeof check === 'string') assert.equal(value, check, name)
          else if (check instanceof RegExp) assert.match(value as string, check, name)
          else assert.ok(check(value as string), `${name}: ${String(value)}`)
        }
        if (c.body !== undefined) assert.deepEqual(new Uint8Array(res.body), new Uint8Array(c.body))
        if (c.blocks !== undefined) {
          const car = await carBlocks(res.body)
          assert.deepEqual(car.roots, [c.path.split('/')[2]], 'the root asked for')
          if (c.anyOrder === true) assert.deepEqual(new Set(car.blocks), new Set(c.blocks))
          else assert.deepEqual(car.blocks, c.blocks)
        }
      })
    }
  }

  it(`${TRUSTLESS}#streaming-and-missing-child-blocks: the cut CAR holds the blocks before the gap and never ends cleanly`, async () => {
    const res = await fetch(`${gw.url}/ipfs/${missing}?format=car`)
    assert.equal(res.status, 200, 'the root was held, so the stream had started')
    assert.equal(res.headers.get('content-type'), `${CAR}; version=1; order=dfs; dups=n`)
    const seen: string[] = []
    await assert.rejects((async () => {
      for await (const b of await CarBlockIterator.fromIterable(res.body!)) seen.push(b.cid.toString())
    })())
    assert.deepEqual(seen, ids(missing, 'QmPKt7ptM2ZYSGPUc8PmPT2VBkLDK3iqpG9TBJY7PCE9rF'))
  })
})
