import { loadPublisherKey } from '../../policy/trust/keys.js'
import { PURPOSES } from '../../policy/collections/constants.js'
import type { Purpose } from '../../policy/collections/governance.js'
import { InvalidAnnouncementError } from '../../errors.js'
import type { BrowseQuery, Collections } from './collections.js'

/**
 * Collection operations as plain JSON, so the CLI runs the same request against the daemon's API
 * (`POST /api/v0/collections`) or, with no daemon, against a node of its own. Keys travel as file paths,
 * never as key material: the daemon runs on the same machine and reads the file itself.
 */
export type CollectionOp =
  | { op: 'join', document: unknown, budget?: number }
  | { op: 'list' }
  | { op: 'leave', name: string }
  | {
    op: 'share',
    path: string,
    collection: string,
    keyFile: string,
    title: string,
    purpose: string,
    tags?: string[],
    id?: string,
    lang?: string,
    license?: string,
    expires?: number
  }
  | { op: 'retract', collection: string, keyFile: string, id: string, publisher?: string }
  | { op: 'browse', collection: string, query: BrowseQuery }

function purpose (p: string | undefined): Purpose | undefined {
  if (p === undefined) return undefined
  if (!PURPOSES.includes(p as Purpose)) throw new InvalidAnnouncementError(`purpose must be one of ${PURPOSES.join(', ')}`)
  return p as Purpose
}

export async function runCollectionOp (collections: Collections, op: CollectionOp): Promise<unknown> {
  switch (op.op) {
    case 'join': return await collections.join(op.document, { budget: op.budget })
    case 'list': return collections.list()
    case 'leave': await collections.leave(op.name); return { left: op.name }
    case 'share': return await collections.share(op.path, {
      collection: op.collection,
      key: await loadPublisherKey(op.keyFile),
      title: op.title,
      purpose: purpose(op.purpose)!,
      tags: op.tags,
      id: op.id,
      lang: op.lang,
      license: op.license,
      expires: op.expires
    })
    case 'retract': return await collections.retract({ collection: op.collection, key: await loadPublisherKey(op.keyFile), id: op.id, publisher: op.publisher })
    case 'browse': return collections.browse(op.collection, { ...op.query, purpose: purpose(op.query.purpose) })
    default: throw new InvalidAnnouncementError(`unknown collection operation ${JSON.stringify((op as { op?: unknown }).op)}`)
  }
}
