import type { CID } from 'multiformats/cid'
import type { DirEntry } from '../nodes.js'
import { MAX_MEMBERS } from './constants.js'
import { ArchiveError } from '../../errors.js'

const MAX_TARGET_BYTES = 4096
const DEFAULT_DIR_MODE = 0o755
const encoder = new TextEncoder()

interface DirBuild { dirs: Map<string, DirBuild>, entries: Map<string, DirEntry>, mode: number }

function emptyDir (mode = DEFAULT_DIR_MODE): DirBuild {
  return { dirs: new Map(), entries: new Map(), mode }
}

/**
 * The archive's members as a directory tree, gathered in archive order and stored once the archive has been read.
 * A later member of the same path replaces an earlier one (as tar extracts); a member whose path runs through a
 * file, or whose name or target cannot be a directory entry, is left out and counted in `skipped`.
 */
export class MemberTree {
  members = 0
  skipped = 0
  private readonly root = emptyDir()
  /** Files by path, for hard links. */
  private readonly files = new Map<string, DirEntry>()

  private count (): void {
    if (++this.members > MAX_MEMBERS) throw new ArchiveError('ERR_ARCHIVE_TOO_LARGE', `more than ${MAX_MEMBERS} members`)
  }

  /** The directory holding `parts`' last component, made on the way; undefined when a file is in the way. */
  private parent (parts: string[]): DirBuild | undefined {
    let d = this.root
    for (const name of parts.slice(0, -1)) {
      if (d.entries.has(name)) return undefined
      let next = d.dirs.get(name)
      if (next === undefined) { next = emptyDir(); d.dirs.set(name, next) }
      d = next
    }
    return d
  }

  skip (): void {
    this.count()
    this.skipped++
  }

  dir (parts: string[], mode: number): void {
    this.count()
    const p = this.parent(parts)
    const name = parts[parts.length - 1]!
    if (p === undefined || p.entries.has(name)) { this.skipped++; return }
    const d = p.dirs.get(name)
    if (d === undefined) p.dirs.set(name, emptyDir(mode))
    else d.mode = mode
  }

  private put (parts: string[], entry: DirEntry): void {
    const p = this.parent(parts)
    if (p === undefined || p.dirs.has(entry.name)) { this.skipped++; return }
    p.entries.set(entry.name, entry)
    if (entry.kind === 'file') this.files.set(parts.join('/'), entry)
  }

  file (parts: string[], cid: CID, size: number, mode: number): void {
    this.count()
    this.put(parts, { name: parts[parts.length - 1]!, kind: 'file', cid, size, mode })
  }

  symlink (parts: string[], target: string | undefined, mode: number): void {
    this.count()
    if (target === undefined || target.length === 0 || encoder.encode(target).length > MAX_TARGET_BYTES) { this.skipped++; return }
    this.put(parts, { name: parts[parts.length - 1]!, kind: 'symlink', target, size: 0, mode })
  }

  /** A hard link: the file it names, if that came earlier in the archive. */
  hardLink (parts: string[], target: string[] | undefined, mode: number): void {
    this.count()
    const to = target === undefined ? undefined : this.files.get(target.join('/'))
    if (to === undefined) { this.skipped++; return }
    this.put(parts, { ...to, name: parts[parts.length - 1]!, mode })
  }

  /** Store the tree bottom-up with `store` (a directory node, split when large); returns its root. */
  async build (store: (entries: DirEntry[]) => Promise<{ cid: CID, size: number }>): Promise<{ cid: CID, size: number }> {
    const visit = async (d: DirBuild): Promise<{ cid: CID, size: number }> => {
      const entries = [...d.entries.values()]
      for (const [name, sub] of d.dirs) {
        const built = await visit(sub)
        entries.push({ name, kind: 'dir', cid: built.cid, size: built.size, mode: sub.mode })
      }
      return await store(entries)
    }
    return await visit(this.root)
  }
}
