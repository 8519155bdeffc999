import * as dagCbor from '@ipld/dag-cbor'
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { BadSignatureError, InvalidAnnouncementError, TooLargeError } from '../../errors.js'
import { MAX_ANNOUNCEMENT_BYTES, MAX_LICENSE, MAX_TAGS, MAX_TITLE, MAX_TOPIC, PURPOSES } from './constants.js'
import type { Purpose } from './governance.js'
import { parsePublicKey, signPayload, verifyPayload, type PublisherKey } from '../trust/keys.js'
import { strictReader } from '../trust/strict.js'
import { decodeCanonical } from '../../store/links.js'

/**
 * Collection announcements: a publisher designates a resource (a DAG root) for a collection, updates it, or
 * retracts one. Strict DAG-CBOR, two layers:
 *
 *   announcement { collection, publisher, seq, id, kind, resource, target, created, expires }
 *   envelope     { announcement, sig: { alg, key, value } | null }
 *
 * A resource is named by (publisher, id); a newer `seq` for it supersedes the older. A retraction is signed by
 * the publisher (under the resource's own id, superseding it) or by a moderator (under an id of its own, naming
 * the target's publisher, id and the highest seq it retracts). The signature covers a domain prefix of its own
 * and the canonical bytes of the announcement, so no other signed thing of cmesh passes for one.
 */

/** Formats of a resource's id, its tags and its language (BCP 47): what a valid announcement holds, not tunables. */
const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/
const TAG = /^[a-z0-9][a-z0-9-]{0,31}$/
const LANG = /^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8}){0,3}$/
/** Signatures cover this prefix and the announcement: no other signed thing of cmesh passes for one. */
const DOMAIN = new TextEncoder().encode('cmesh-announcement-v1\0')

export interface Resource {
  root: CID
  /** Content bytes under the root. */
  size: number
  title: string
  purpose: Purpose
  tags: string[]
  lang: string | null
  license: string | null
}

export interface RetractTarget {
  publisher: string
  id: string
  /** Versions of the resource up to this seq are retracted; a later update shows again. */
  seq: number
}

export interface Announcement {
  /** The collection's topic (see collectionTopic). */
  collection: string
  /** Public key text of the signer. */
  publisher: string
  /** Grows with every announcement of (publisher, id). */
  seq: number
  /** The resource's name among the publisher's, stable across updates. */
  id: string
  kind: 'share' | 'retract'
  resource: Resource | null
  target: RetractTarget | null
  /** Ms since the epoch. */
  created: number
  /** Ms since the epoch. */
  expires: number
}

/** A decoded announcement whose signature checked out. */
export interface OpenedAnnouncement {
  announcement: Announcement
  /** The envelope as signed and encoded: what travels and is stored. */
  bytes: Uint8Array
  /** Hex sha-256 of `bytes`: its gossip message id too. */
  hash: string
}

const reader = strictReader(why => { throw new InvalidAnnouncementError(`malformed announcement: ${why}`) })
/** Declared with its type, so TypeScript knows a call never returns. */
const bad: (why: string) => never = reader.bad
const { exact, int, str } = reader

function text (v: unknown, max: number, what: string): string {
  // no control characters: titles end up on terminals
  if (typeof v !== 'string' || v.length === 0 || v.length > max || /\p{Cc}/u.test(v)) bad(`${what} must be 1-${max} printable characters`)
  return v
}

function key (v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} must be a public key`)
  try {
    const parsed = parsePublicKey(v).text
    if (parsed !== v) bad(`${what} is not in normal form`)
    return parsed
  } catch (err) {
    if (err instanceof InvalidAnnouncementError) throw err
    bad(`${what}: ${(err as Error).message}`)
  }
}

function resourceFrom (v: unknown): Resource {
  const r = exact(v, ['root', 'size', 'title', 'purpose', 'tags', 'lang', 'license'], 'resource')
  if (!PURPOSES.includes(r.purpose as Purpose)) bad(`purpose must be one of ${PURPOSES.join(', ')}`)
  if (!Array.isArray(r.tags) || r.tags.length > MAX_TAGS) bad(`tags must be a list of at most ${MAX_TAGS}`)
  const tags = r.tags.map((t: unknown) => str(t, TAG, 'a tag'))
  if (new Set(tags).size !== tags.length) bad('tags repeat')
  return {
    root: CID.asCID(r.root) ?? bad('resource.root must be a CID'),
    size: int(r.size, 'resource.size'),
    title: text(r.title, MAX_TITLE, 'title'),
    purpose: r.purpose as Purpose,
    tags,
    lang: r.lang === null ? null : str(r.lang, LANG, 'lang'),
    license: r.license === null ? null : text(r.license, MAX_LICENSE, 'license')
  }
}

function fromValue (v: unknown): Announcement {
  const a = exact(v, ['collection', 'publisher', 'seq', 'id', 'kind', 'resource', 'target', 'created', 'expires'], 'announcement')
  if (typeof a.collection !== 'string' || a.collection.length > MAX_TOPIC) bad('collection is not valid')
  const seq = int(a.seq, 'seq')
  if (seq < 1) bad('seq must be at least 1')
  const created = int(a.created, 'created')
  const expires = int(a.expires, 'expires')
  if (expires <= created) bad('expires must be after created')
  if (a.kind !== 'share' && a.kind !== 'retract') bad('kind must be share or retract')
  const out: Announcement = {
    collection: a.collection,
    publisher: key(a.publisher, 'publisher'),
    seq,
    id: str(a.id, ID, 'id'),
    kind: a.kind,
    resource: null,
    target: null,
    created,
    expires
  }
  if (a.kind === 'share') {
    if (a.target !== null) bad('a share has no target')
    out.resource = resourceFrom(a.resource)
  } else {
    if (a.resource !== null) bad('a retraction has no resource')
    const t = exact(a.target, ['publisher', 'id', 'seq'], 'target')
    out.target = { publisher: key(t.publisher, 'target.publisher'), id: str(t.id, ID, 'target.id'), seq: int(t.seq, 'target.seq') }
  }
  return out
}

function toValue (a: Announcement): Record<string, unknown> {
  const r = a.resource
  return {
    collection: a.collection,
    publisher: a.publisher,
    seq: a.seq,
    id: a.id,
    kind: a.kind,
    resource: r === null ? null : { root: r.root, size: r.size, title: r.title, purpose: r.purpose, tags: [...r.tags], lang: r.lang, license: r.license },
    target: a.target === null ? null : { publisher: a.target.publisher, id: a.target.id, seq: a.target.seq },
    created: a.created,
    expires: a.expires
  }
}

function signedBytes (value: Record<string, unknown>): Uint8Array {
  const body = dagCbor.encode(value)
  const out = new Uint8Array(DOMAIN.length + body.length)
  out.set(DOMAIN, 0)
  out.set(body, DOMAIN.length)
  return out
}

export function checkAnnouncementId (id: string): string {
  if (!ID.test(id)) throw new InvalidAnnouncementError(`resource id ${JSON.stringify(id)} is not valid (1-64 lower case letters, digits, . _ -)`)
  return id
}

/** Sign an announcement (checked the way a reader will first): the envelope. */
export function signAnnouncement (a: Announcement, signer: PublisherKey): OpenedAnnouncement {
  if (a.publisher !== signer.publicKey) throw new BadSignatureError('an announcement is signed by its publisher')
  const value = toValue(fromValue(dagCbor.decode(dagCbor.encode(toValue(a)))))
  const bytes = dagCbor.encode({ announcement: value, sig: { alg: signer.alg, key: signer.publicKey, value: signPayload(signer, signedBytes(value)) } })
  if (bytes.length > MAX_ANNOUNCEMENT_BYTES) throw new TooLargeError(`announcement of ${bytes.length} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}`)
  return { announcement: fromValue(value), bytes, hash: hashOf(bytes) }
}

/** Encode an announcement with no signature: only tests and attackers want this. */
export function encodeUnsigned (a: Announcement): Uint8Array {
  return dagCbor.encode({ announcement: toValue(a), sig: null })
}

export function hashOf (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Decode an envelope and check its signature against the publisher it names (whether that key may publish
 * there is the collection's question). Oversized, non-canonical, unsigned and badly signed input is refused.
 */
export function openAnnouncement (bytes: Uint8Array): OpenedAnnouncement {
  if (bytes.length > MAX_ANNOUNCEMENT_BYTES) throw new TooLargeError(`announcement of ${bytes.length} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}`)
  let decoded: unknown
  try {
    decoded = decodeCanonical(bytes)
  } catch (err) {
    bad(`not canonical DAG-CBOR (${(err as Error).message})`)
  }
  const env = exact(decoded, ['announcement', 'sig'], 'the envelope')
  const announcement = fromValue(env.announcement)
  if (env.sig === null) throw new BadSignatureError(`announcement ${announcement.id} seq ${announcement.seq} is not signed`)
  const sig = exact(env.sig, ['alg', 'key', 'value'], 'the signature')
  if (sig.key !== announcement.publisher || !(sig.value instanceof Uint8Array)) throw new BadSignatureError('an announcement must be signed by the publisher it names')
  if (typeof sig.alg !== 'string' || !announcement.publisher.startsWith(`${sig.alg}:`)) throw new BadSignatureError('signature algorithm does not match the key')
  if (!verifyPayload(announcement.publisher, signedBytes(env.announcement as Record<string, unknown>), sig.value)) {
    throw new BadSignatureError(`announcement ${announcement.id} seq ${announcement.seq}: signature does not verify`)
  }
  return { announcement, bytes, hash: hashOf(bytes) }
}
