import { readJsonFile, writeJsonFile } from '../../store/json-file.js'
import { repoPath } from '../../repo/index.js'

/** What this node holds for a URL: verified content (a DAG in the store) and the response's metadata. */
export interface UrlEntry {
  url: string
  /** Root CID of the content, as a string. */
  cid: string
  size: number
  /** Response headers kept (see STORED_HEADERS). */
  headers: Record<string, string>
  /** When the origin sent (or last confirmed) this response, ms since the epoch. */
  fetchedAt: number
  freshUntil: number
  /** Who fetched it from the origin (this node's own id when it did); blamed if the origin disagrees. */
  claimant: string
  /** The cache holds its own pin of the root (owner CACHE_PIN): eviction drops that pin, never another owner's. */
  cachePinned: boolean
  /** GDSF inflation when last requested (see GdsfPolicy). */
  base: number
  lastUsed: number
}

interface IndexFile {
  version: 1
  inflation: number
  entries: UrlEntry[]
}

/** How long index changes wait before being written (many changes in a burst cost one write). */
const WRITE_DELAY_MS = 500

/**
 * The node's URL index, in memory and in `<repo>/url-cache.json` (written through a temp file and a rename, a
 * short while after changes, and on close). Entries whose content is gone are dropped by the cache on use.
 */
export class UrlIndex {
  private readonly entries = new Map<string, UrlEntry>()
  private readonly path: string
  private timer: NodeJS.Timeout | undefined
  /** GDSF inflation, kept across restarts. */
  inflation = 0
  usedBytes = 0

  constructor (repo: string) {
    this.path = repoPath(repo, 'urlIndex')
    const file = readJsonFile<IndexFile>(this.path, { version: 1, inflation: 0, entries: [] })
    this.inflation = typeof file.inflation === 'number' ? file.inflation : 0
    for (const e of Array.isArray(file.entries) ? file.entries : []) {
      if (typeof e?.url === 'string' && typeof e.cid === 'string' && typeof e.size === 'number') this.set(e, false)
    }
  }

  get (url: string): UrlEntry | undefined {
    return this.entries.get(url)
  }

  set (entry: UrlEntry, save = true): void {
    const held = this.entries.get(entry.url)
    if (held !== undefined) this.usedBytes -= held.size
    this.entries.set(entry.url, entry)
    this.usedBytes += entry.size
    if (save) this.changed()
  }

  delete (url: string): UrlEntry | undefined {
    const held = this.entries.get(url)
    if (held === undefined) return undefined
    this.entries.delete(url)
    this.usedBytes -= held.size
    this.changed()
    return held
  }

  /** Other URLs whose content is the same root (a root is unpinned only when no entry uses it). */
  sharesRoot (cid: string, except: string): boolean {
    for (const e of this.entries.values()) if (e.cid === cid && e.url !== except) return true
    return false
  }

  all (): IterableIterator<UrlEntry> {
    return this.entries.values()
  }

  get size (): number {
    return this.entries.size
  }

  /** Changes not yet written. */
  private dirty = false

  changed (): void {
    this.dirty = true
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => { this.flush() }, WRITE_DELAY_MS)
    this.timer.unref()
  }

  /** Write the index now if anything changed since it was last written. */
  flush (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.dirty) return
    this.dirty = false
    writeJsonFile(this.path, { version: 1, inflation: this.inflation, entries: [...this.entries.values()] } satisfies IndexFile)
  }
}
