import type { Announcement } from '../../policy/collections/announcement.js'
import { liveShares } from '../../policy/collections/collection-rules.js'
import type { Purpose } from '../../policy/collections/governance.js'
import type { StoredCollection } from './collection-file.js'
import type { SyncStatus } from './collection-sync.js'

export interface BrowseQuery {
  tag?: string[]
  purpose?: Purpose
  /** Words looked for in title, tags and id (case-insensitive). */
  text?: string
  publisher?: string
}

export interface BrowseEntry {
  collection: string
  publisher: string
  id: string
  seq: number
  root: string
  size: number
  title: string
  purpose: Purpose
  tags: string[]
  lang: string | null
  license: string | null
  created: number
  expires: number
  status: SyncStatus
}

/**
 * The resources in force in the joined collection `name` that match `query`, most urgent purpose first (the governance's
 * priorities), newest first within a purpose, each with its sync status.
 */
export function browseShares (name: string, c: StoredCollection, query: BrowseQuery, status: (a: Announcement) => SyncStatus): BrowseEntry[] {
  const words = (query.text ?? '').toLowerCase().split(/\s+/).filter(w => w !== '')
  return liveShares(c)
    .filter(a => {
      const r = a.resource!
      if (query.purpose !== undefined && r.purpose !== query.purpose) return false
      if (query.publisher !== undefined && a.publisher !== query.publisher) return false
      if (query.tag !== undefined && !query.tag.every(t => r.tags.includes(t))) return false
      const hay = `${r.title} ${r.tags.join(' ')} ${a.id}`.toLowerCase()
      return words.every(w => hay.includes(w))
    })
    .sort((x, y) => (c.governance.priorities[x.resource!.purpose] - c.governance.priorities[y.resource!.purpose]) || y.created - x.created)
    .map(a => {
      const r = a.resource!
      return {
        collection: name,
        publisher: a.publisher,
        id: a.id,
        seq: a.seq,
        root: r.root.toString(),
        size: r.size,
        title: r.title,
        purpose: r.purpose,
        tags: r.tags,
        lang: r.lang,
        license: r.license,
        created: a.created,
        expires: a.expires,
        status: status(a)
      }
    })
}
