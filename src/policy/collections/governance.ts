import * as dagCbor from '@ipld/dag-cbor'
import { createHash } from 'node:crypto'
import { GovernanceError } from '../../errors.js'
import { parsePublicKey } from '../trust/keys.js'
import { DEFAULT_PRIORITIES, MAX_KEYS, PURPOSES } from './constants.js'

/**
 * A collection's governance document: the JSON file a community edits and every member loads
 * (`cmesh collection join <file>`). It says who may publish, who moderates, the quotas, and the retention. Its
 * canonical bytes are hashed into the collection's topic, so members holding different rules never mix.
 *
 *   { name, publishers: [key...] | 'members', members?: [key...], moderators: [key...],
 *     quotas: { maxResourceBytes, maxAnnouncementsPerHour, maxBytesPerDay }, retentionDays, priorities? }
 */

export type Purpose = typeof PURPOSES[number]

/** Format of a collection's name (it goes into the topic and the repository's file names): not a tunable. */
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/
const DAY_MS = 24 * 3600 * 1000

export interface Quotas {
  /** Largest resource one announcement may designate, in bytes. */
  maxResourceBytes: number
  /** Announcements (shares and retractions) one publisher may make in any hour, by their `created` time. */
  maxAnnouncementsPerHour: number
  /** Resource bytes one publisher may share in any 24 hours, by their `created` time. */
  maxBytesPerDay: number
}

export interface Governance {
  name: string
  /** Keys allowed to share, or 'members': every key in `members`. */
  publishers: string[] | 'members'
  members: string[]
  /** Keys allowed to retract anyone's resources. */
  moderators: string[]
  quotas: Quotas
  /** Announcements live at most this many days (the default expiry, and its upper bound). */
  retentionDays: number
  /** Fetch order by purpose: lower first. */
  priorities: Record<Purpose, number>
}

function bad (why: string): never {
  throw new GovernanceError(`governance: ${why}`)
}

function keys (v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > MAX_KEYS) bad(`${what} must be a list of at most ${MAX_KEYS} public keys`)
  return [...new Set(v.map(k => {
    if (typeof k !== 'string') bad(`${what} must hold public key strings`)
    try {
      return parsePublicKey(k).text
    } catch (err) {
      return bad(`${what}: ${(err as Error).message}`)
    }
  }))].sort()
}

function positive (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(`${what} must be a positive integer`)
  return v
}

function only (obj: unknown, allowed: string[], what: string): Record<string, unknown> {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) bad(`${what} must be an object`)
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) bad(`${what} has an unknown field ${JSON.stringify(k)}`)
  return obj as Record<string, unknown>
}

/** Check a parsed governance document; returns it normalised (keys parsed, sorted and deduplicated). */
export function parseGovernance (value: unknown): Governance {
  const g = only(value, ['name', 'publishers', 'members', 'moderators', 'quotas', 'retentionDays', 'priorities'], 'the document')
  if (typeof g.name !== 'string' || !NAME.test(g.name)) bad('name must be 1-64 lower case letters, digits, . _ -')
  const members = g.members === undefined ? [] : keys(g.members, 'members')
  const publishers = g.publishers === 'members' ? 'members' : keys(g.publishers, 'publishers')
  if (publishers === 'members' && members.length === 0) bad('publishers is "members" but no members are listed')
  const q = only(g.quotas, ['maxResourceBytes', 'maxAnnouncementsPerHour', 'maxBytesPerDay'], 'quotas')
  const priorities = { ...DEFAULT_PRIORITIES }
  if (g.priorities !== undefined) {
    const p = only(g.priorities, [...PURPOSES], 'priorities')
    for (const [k, v] of Object.entries(p)) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`priorities.${k} must be a non-negative integer`)
      priorities[k as Purpose] = v
    }
  }
  return {
    name: g.name,
    publishers,
    members,
    moderators: keys(g.moderators ?? [], 'moderators'),
    quotas: {
      maxResourceBytes: positive(q.maxResourceBytes, 'quotas.maxResourceBytes'),
      maxAnnouncementsPerHour: positive(q.maxAnnouncementsPerHour, 'quotas.maxAnnouncementsPerHour'),
      maxBytesPerDay: positive(q.maxBytesPerDay, 'quotas.maxBytesPerDay')
    },
    retentionDays: positive(g.retentionDays, 'retentionDays'),
    priorities
  }
}

/** The canonical bytes of a governance document (DAG-CBOR of its normalised form): what its topic hashes. */
export function governanceBytes (g: Governance): Uint8Array {
  return dagCbor.encode({ ...g, publishers: g.publishers, quotas: { ...g.quotas }, priorities: { ...g.priorities } })
}

/**
 * The collection's id, which is also its gossipsub topic: `/cmesh/collection/1/<name>/<16 hex of sha-256 of the
 * governance bytes>`. Announcements name it, so one signed for a differently-governed collection is refused.
 */
export function collectionTopic (g: Governance): string {
  return `/cmesh/collection/1/${g.name}/${createHash('sha256').update(governanceBytes(g)).digest('hex').slice(0, 16)}`
}

export function mayPublish (g: Governance, key: string): boolean {
  return g.publishers === 'members' ? g.members.includes(key) : g.publishers.includes(key)
}

export function mayModerate (g: Governance, key: string): boolean {
  return g.moderators.includes(key)
}

export function retentionMs (g: Governance): number {
  return g.retentionDays * DAY_MS
}
