import { liveShares } from '../policy/collections/collection-rules.js'
import { CollectionFiles } from '../sync/collections/collection-file.js'
import { ReleaseIndex } from '../store/release-index.js'

/**
 * Names for resource roots this repository knows: titles of the resources in force in its collections and the
 * releases it installed. A report names a resource only once it passed the popularity threshold.
 */
export function resourceTitles (repo: string): Map<string, string> {
  const titles = new Map<string, string>()
  try {
    for (const r of new ReleaseIndex(repo).list()) titles.set(r.root, `${r.name} ${r.version}`)
  } catch {}
  try {
    const files = new CollectionFiles(repo)
    for (const name of files.names()) {
      const c = files.load(name)
      if (c === undefined) continue
      for (const a of liveShares(c)) if (a.resource !== null && a.resource !== undefined) titles.set(a.resource.root.toString(), a.resource.title)
    }
  } catch {}
  return titles
}
