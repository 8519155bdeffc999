import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { RepoError } from '../../errors.js'
import { openAnnouncement, type OpenedAnnouncement } from '../../policy/collections/announcement.js'
import { headKey, type CollectionState } from '../../policy/collections/collection-rules.js'
import { collectionTopic, parseGovernance } from '../../policy/collections/governance.js'
import { readJsonFile, writeJsonFile } from '../../store/json-file.js'
import { repoPath } from '../../repo/index.js'

/** A joined collection as kept on disk: its rules, local settings and the announcements it holds. */
export interface StoredCollection extends CollectionState {
  /** Storage budget for this collection's resources, in bytes. */
  budget: number
  /** Roots this node pinned for the collection (so unpinning never touches a pin of the user's). */
  pinned: Set<string>
}

interface CollectionFile {
  governance: unknown
  budget: number | null
  heads: string[]
  log: Record<string, Array<[number, number]>>
  pinned: string[]
}

/**
 * `<repo>/collections/<name>.json`: the governance document, the storage budget, the head announcements
 * (base64url envelopes, re-opened and signature-checked on load), the quota log and the roots pinned.
 */
export class CollectionFiles {
  private readonly dir: string

  constructor (repo: string) {
    this.dir = repoPath(repo, 'collections')
  }

  names (): string[] {
    try {
      return readdirSync(this.dir).filter(f => f.endsWith('.json')).map(f => f.slice(0, -'.json'.length)).sort()
    } catch {
      return []
    }
  }

  load (name: string): StoredCollection | undefined {
    const path = join(this.dir, `${name}.json`)
    const file = readJsonFile<CollectionFile | undefined>(path, undefined)
    if (file === undefined) return undefined
    if (!Array.isArray(file.heads) || typeof file.log !== 'object' || !Array.isArray(file.pinned)) throw new RepoError(`${path} is not a collection file`)
    const governance = parseGovernance(file.governance)
    const heads = new Map<string, OpenedAnnouncement>()
    for (const h of file.heads) {
      try {
        const opened = openAnnouncement(Buffer.from(h, 'base64url'))
        heads.set(headKey(opened.announcement.publisher, opened.announcement.id), opened)
      } catch {} // a damaged entry is dropped: peers hand it back through anti-entropy
    }
    return {
      governance,
      topic: collectionTopic(governance),
      budget: file.budget ?? Infinity,
      heads,
      log: new Map(Object.entries(file.log)),
      pinned: new Set(file.pinned)
    }
  }

  save (c: StoredCollection): void {
    const file: CollectionFile = {
      governance: c.governance,
      budget: Number.isFinite(c.budget) ? c.budget : null,
      heads: [...c.heads.values()].map(h => Buffer.from(h.bytes).toString('base64url')),
      log: Object.fromEntries(c.log),
      pinned: [...c.pinned]
    }
    writeJsonFile(join(this.dir, `${c.governance.name}.json`), file)
  }

  remove (name: string): void {
    rmSync(join(this.dir, `${name}.json`), { force: true })
  }
}
