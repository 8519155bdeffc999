import { readFileSync } from 'node:fs'
import { writeFile, rename, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonFile, writeJsonFile } from './json-file.js'
import { repoPath } from '../repo/index.js'

export interface InstalledRelease {
  name: string
  version: string
  seq: number
  /** CID of the signed envelope. */
  release: string
  root: string
  size: number
  signer: string
  expires: number
  /** When it was installed here (ms since the epoch). */
  installed: number
}

/**
 * Which release of each name this repository holds, and the bundle it came in (kept so the node can hand it to
 * peers and so rollbacks are measured against it). Bundles are written before the index that names them.
 */
export class ReleaseIndex {
  private readonly path: string
  private readonly dir: string

  constructor (repo: string) {
    this.path = repoPath(repo, 'releases')
    this.dir = repoPath(repo, 'bundles')
  }

  private read (): Record<string, InstalledRelease> {
    return readJsonFile<Record<string, InstalledRelease>>(this.path, {})
  }

  get (name: string): InstalledRelease | undefined {
    return this.read()[name]
  }

  list (): InstalledRelease[] {
    return Object.values(this.read()).sort((a, b) => a.name.localeCompare(b.name))
  }

  /** The bundle of the installed release of `name`, if any. */
  bundle (name: string): Uint8Array | undefined {
    const entry = this.get(name)
    if (entry === undefined) return undefined
    try {
      return readFileSync(join(this.dir, `${entry.release}.cmesh`))
    } catch {
      return undefined
    }
  }

  /** The bundle of a release by its CID, while this repository still has it (bundles of earlier releases are kept). */
  bundleOf (release: string): Uint8Array | undefined {
    if (!/^[a-z0-9]+$/.test(release)) return undefined
    try {
      return readFileSync(join(this.dir, `${release}.cmesh`))
    } catch {
      return undefined
    }
  }

  /** Record `entry` as the installed release of its name, with its bundle. */
  async record (entry: InstalledRelease, bundle: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const file = join(this.dir, `${entry.release}.cmesh`)
    const tmp = `${file}.${process.pid}.tmp`
    await writeFile(tmp, bundle)
    await rename(tmp, file)
    const all = this.read()
    all[entry.name] = entry
    writeJsonFile(this.path, all)
  }
}
