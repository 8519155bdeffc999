/** Tunables of collections: limits of governance documents and announcements, and the rules' tolerances. */

/** What a shared resource is for: announcements name one, and fetch order (priorities) goes by it. */
export const PURPOSES = ['notice', 'education', 'media', 'software', 'other'] as const
/** Fetch order when a governance document names none: notices first, media last. */
export const DEFAULT_PRIORITIES: Readonly<Record<typeof PURPOSES[number], number>> = { notice: 0, education: 1, software: 2, other: 3, media: 4 }

/** A governance document's bytes at most (a thousand keys with their roles fit in a fraction of it). */
export const MAX_GOVERNANCE_BYTES = 1024 * 1024
/** Keys in one list of a governance document (publishers, members, moderators): a neighbourhood's, with room. */
export const MAX_KEYS = 1024

/** Largest envelope accepted: announcements are metadata and travel in gossip messages. */
export const MAX_ANNOUNCEMENT_BYTES = 16 * 1024
/** Tags of one resource at most: enough to browse by, too few to stuff. */
export const MAX_TAGS = 16
/** A resource's title at most this many characters (a line in a listing). */
export const MAX_TITLE = 200
/** A resource's license at most this many characters (an SPDX expression or a short name). */
export const MAX_LICENSE = 64
/** An announcement's collection (its topic: `/cmesh/collection/1/<name>/<hash>`) at most this many characters. */
export const MAX_TOPIC = 256

/** Announcements dated further ahead than this are refused: clocks in a neighbourhood disagree, but not by hours. */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000
