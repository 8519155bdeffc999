import { AnnouncementExpiredError, QuotaError, ReplayError, TooLargeError, UnauthorizedError } from '../../errors.js'
import type { Announcement, OpenedAnnouncement } from './announcement.js'
import { MAX_CLOCK_SKEW_MS } from './constants.js'
import { mayModerate, mayPublish, retentionMs, type Governance } from './governance.js'

/**
 * What a collection holds and the rules an announcement must pass before it is accepted (and so relayed):
 * a permitted signer, not expired, newer than what is held for its resource, within the publisher's quotas.
 * Pure and synchronous, so gossipsub's validator can decide and record in one step.
 */

/** Units of the quota windows (maxAnnouncementsPerHour, maxBytesPerDay), not tunables. */
const HOUR_MS = 3600 * 1000
const DAY_MS = 24 * HOUR_MS

export interface CollectionState {
  governance: Governance
  topic: string
  /** The newest announcement of each (publisher, id): see headKey. */
  heads: Map<string, OpenedAnnouncement>
  /** Per publisher, `[created, bytes]` of each announcement accepted within the retention: the quota windows. */
  log: Map<string, Array<[number, number]>>
}

export function headKey (publisher: string, id: string): string {
  return `${publisher}\n${id}`
}

/**
 * Check an opened announcement against the collection; 'duplicate' when exactly it is held already. Throws
 * ERR_UNAUTHORIZED, ERR_TOO_LARGE, ERR_ANNOUNCEMENT_EXPIRED, ERR_REPLAY or ERR_QUOTA.
 */
export function admit (state: CollectionState, opened: OpenedAnnouncement, now = Date.now()): 'new' | 'duplicate' {
  const a = opened.announcement
  const g = state.governance
  if (a.collection !== state.topic) throw new UnauthorizedError(`announcement is for ${a.collection}, not ${state.topic}`)
  if (a.kind === 'share') {
    if (!mayPublish(g, a.publisher)) throw new UnauthorizedError(`${a.publisher} may not publish in ${g.name}`)
    if (a.resource!.size > g.quotas.maxResourceBytes) throw new TooLargeError(`resource of ${a.resource!.size} bytes exceeds the ${g.quotas.maxResourceBytes} allowed in ${g.name}`)
  } else {
    const own = a.target!.publisher === a.publisher && a.target!.id === a.id
    if (!own && !mayModerate(g, a.publisher)) throw new UnauthorizedError(`${a.publisher} may not retract ${a.target!.id} of another publisher in ${g.name}`)
  }
  if (a.expires <= now) throw new AnnouncementExpiredError(`announcement ${a.id} seq ${a.seq} expired at ${new Date(a.expires).toISOString()}`)
  if (a.created > now + MAX_CLOCK_SKEW_MS) throw new AnnouncementExpiredError(`announcement ${a.id} seq ${a.seq} is dated in the future`)
  if (a.expires - a.created > retentionMs(g)) throw new QuotaError(`announcement ${a.id} outlives the ${g.retentionDays} day retention of ${g.name}`)
  const held = state.heads.get(headKey(a.publisher, a.id))
  if (held !== undefined) {
    if (held.hash === opened.hash) return 'duplicate'
    if (a.seq <= held.announcement.seq) throw new ReplayError(`announcement ${a.id} seq ${a.seq} is not newer than the ${held.announcement.seq} held`)
  }
  if (retractsOwnShare(held, a)) return 'new'
  const log = state.log.get(a.publisher) ?? []
  const inHour = log.filter(([t]) => t > a.created - HOUR_MS && t <= a.created).length
  if (inHour + 1 > g.quotas.maxAnnouncementsPerHour) throw new QuotaError(`${a.publisher} is over ${g.quotas.maxAnnouncementsPerHour} announcements an hour in ${g.name}`)
  const bytes = a.resource?.size ?? 0
  const inDay = log.filter(([t]) => t > a.created - DAY_MS && t <= a.created).reduce((s, [, b]) => s + b, 0)
  if (bytes > 0 && inDay + bytes > g.quotas.maxBytesPerDay) throw new QuotaError(`${a.publisher} is over ${g.quotas.maxBytesPerDay} bytes a day in ${g.name}`)
  return 'new'
}

/** Record an admitted announcement: it becomes the head of its resource and counts against its quotas. */
export function record (state: CollectionState, opened: OpenedAnnouncement): void {
  const a = opened.announcement
  const free = retractsOwnShare(state.heads.get(headKey(a.publisher, a.id)), a)
  state.heads.set(headKey(a.publisher, a.id), opened)
  if (free) return
  const log = state.log.get(a.publisher) ?? []
  log.push([a.created, a.resource?.size ?? 0])
  state.log.set(a.publisher, log)
}

/**
 * A publisher retracting their own share in force is outside the quotas: a member at the hourly limit can still
 * take back what they posted. At most one per share, since the retraction replaces the share as the head.
 */
function retractsOwnShare (held: OpenedAnnouncement | undefined, a: Announcement): boolean {
  const t = a.target
  return a.kind === 'retract' && t !== null && t.publisher === a.publisher && t.id === a.id &&
    held?.announcement.kind === 'share' && t.seq >= held.announcement.seq
}

/** Drop expired heads and quota entries older than the retention; returns the heads dropped. */
export function expire (state: CollectionState, now = Date.now()): OpenedAnnouncement[] {
  const dropped: OpenedAnnouncement[] = []
  for (const [k, h] of state.heads) {
    if (h.announcement.expires <= now) {
      state.heads.delete(k)
      dropped.push(h)
    }
  }
  const since = now - retentionMs(state.governance)
  for (const [p, log] of state.log) {
    const kept = log.filter(([t]) => t > since)
    if (kept.length > 0) state.log.set(p, kept)
    else state.log.delete(p)
  }
  return dropped
}

/** Shares in force: not expired, and not retracted by their publisher or a moderator. */
export function liveShares (state: CollectionState, now = Date.now()): Announcement[] {
  const retracted = new Map<string, number>()
  for (const h of state.heads.values()) {
    const t = h.announcement.target
    if (h.announcement.kind === 'retract' && t !== null && h.announcement.expires > now) {
      const k = headKey(t.publisher, t.id)
      retracted.set(k, Math.max(retracted.get(k) ?? 0, t.seq))
    }
  }
  const out: Announcement[] = []
  for (const h of state.heads.values()) {
    const a = h.announcement
    if (a.kind !== 'share' || a.expires <= now) continue
    if ((retracted.get(headKey(a.publisher, a.id)) ?? 0) >= a.seq) continue
    out.push(a)
  }
  return out
}
