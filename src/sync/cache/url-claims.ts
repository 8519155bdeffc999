import * as dagCbor from '@ipld/dag-cbor'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { BadClaimError } from '../../errors.js'
import { MAX_URL_LENGTH, MAX_URL_MESSAGE_BYTES, STATUS_TOP_URLS } from './constants.js'

/**
 * A member's signed statement "the content of `url`, as the origin sent it at `fetchedAt`, is the DAG `cid` of
 * `size` bytes, fresh until `freshUntil`". Claims are hints: a receiver trusts one only after the blocks it
 * fetched verify against `cid` and add up to `size` (and, revalidating, after the origin's ETag agrees).
 */
export interface UrlClaim {
  url: string
  cid: CID
  size: number
  /** Response headers kept with the content (content-type, etag, last-modified, cache-control, …). */
  headers: Record<string, string>
  fetchedAt: number
  freshUntil: number
  /** The claimant's peer id: its key signs the claim. */
  peer: string
}

/** A member's periodic status: its free cache capacity (ownership weight) and its most requested URLs. */
export interface MemberStatus {
  peer: string
  at: number
  capacity: number
  free: number
  /** [url, decayed request count], at most STATUS_TOP_URLS. */
  top: Array<[string, number]>
}

export type CacheMessage = { t: 'claim', claim: UrlClaim } | { t: 'status', status: MemberStatus }

/** A claim or status with its signature, as it travels: dag-cbor `{ t, body, sig }`. */
export interface SignedMessage {
  message: CacheMessage
  bytes: Uint8Array
}

function fail (why: string): never {
  throw new BadClaimError(`malformed cache message: ${why}`)
}

function exact (v: unknown, keys: string[], what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) fail(`${what} must be a map`)
  const o = v as Record<string, unknown>
  if (Object.keys(o).length !== keys.length || !keys.every(k => Object.hasOwn(o, k))) fail(`${what} must have exactly ${keys.join(', ')}`)
  return o
}

const count = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${what} must be a non-negative number`)
  return v
}

const text = (v: unknown, what: string, max = MAX_URL_LENGTH): string => {
  if (typeof v !== 'string' || v.length > max) fail(`${what} must be a string of at most ${max} characters`)
  return v
}

function claimFrom (v: unknown): UrlClaim {
  const o = exact(v, ['url', 'cid', 'size', 'headers', 'fetchedAt', 'freshUntil', 'peer'], 'claim')
  const cid = CID.asCID(o.cid)
  if (cid === null) fail('cid must be a CID')
  const h = o.headers
  if (h === null || typeof h !== 'object' || Array.isArray(h) || h instanceof Uint8Array || Object.keys(h).length > 16) fail('headers must be a map of at most 16 entries')
  const headers: Record<string, string> = {}
  for (const [k, val] of Object.entries(h)) headers[text(k, 'header name', 64)] = text(val, 'header value', 1024)
  return {
    url: text(o.url, 'url'),
    cid,
    size: count(o.size, 'size'),
    headers,
    fetchedAt: count(o.fetchedAt, 'fetchedAt'),
    freshUntil: count(o.freshUntil, 'freshUntil'),
    peer: text(o.peer, 'peer', 128)
  }
}

function statusFrom (v: unknown): MemberStatus {
  const o = exact(v, ['peer', 'at', 'capacity', 'free', 'top'], 'status')
  if (!Array.isArray(o.top) || o.top.length > STATUS_TOP_URLS) fail(`top must be a list of at most ${STATUS_TOP_URLS}`)
  const top = o.top.map((e: unknown): [string, number] => {
    if (!Array.isArray(e) || e.length !== 2) fail('top entries must be [url, count]')
    return [text(e[0], 'url'), count(e[1], 'count')]
  })
  return { peer: text(o.peer, 'peer', 128), at: count(o.at, 'at'), capacity: count(o.capacity, 'capacity'), free: count(o.free, 'free'), top }
}

/** Sign a claim or status with the node's key. */
export async function signMessage (key: PrivateKey, message: CacheMessage): Promise<SignedMessage> {
  const body = dagCbor.encode(message.t === 'claim' ? message.claim : message.status)
  const sig = await key.sign(body)
  return { message, bytes: dagCbor.encode({ t: message.t, body, sig }) }
}

/**
 * Decode and verify a signed message: strict shape, size cap, and a signature by the key of the peer it names.
 * Throws ERR_BAD_CLAIM.
 */
export async function openMessage (bytes: Uint8Array): Promise<SignedMessage> {
  if (bytes.length > MAX_URL_MESSAGE_BYTES) fail(`${bytes.length} bytes exceed ${MAX_URL_MESSAGE_BYTES}`)
  let outer: unknown
  let inner: unknown
  try {
    outer = dagCbor.decode(bytes)
  } catch (err) {
    fail((err as Error).message)
  }
  const o = exact(outer, ['t', 'body', 'sig'], 'message')
  if (!(o.body instanceof Uint8Array) || !(o.sig instanceof Uint8Array)) fail('body and sig must be bytes')
  try {
    inner = dagCbor.decode(o.body)
  } catch (err) {
    fail((err as Error).message)
  }
  let message: CacheMessage
  if (o.t === 'claim') message = { t: 'claim', claim: claimFrom(inner) }
  else if (o.t === 'status') message = { t: 'status', status: statusFrom(inner) }
  else fail('t must be claim or status')
  const peer = message.t === 'claim' ? message.claim.peer : message.status.peer
  let ok = false
  try {
    const publicKey = peerIdFromString(peer).publicKey
    ok = publicKey !== undefined && await publicKey.verify(o.body, o.sig)
  } catch {}
  if (!ok) throw new BadClaimError(`cache message from ${peer} has a bad signature`)
  return { message, bytes }
}
