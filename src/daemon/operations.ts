/**
 * What the control API's routes and a command's own node both do with a node for the long operations: fetch and
 * update, their progress as bytes done of a total, and their reports. One code path, so a command shows the same
 * progress and prints the same result whether a daemon runs or not.
 */
import type { CID } from 'multiformats/cid'
import { CODEC_DAG_CBOR, CODEC_RAW } from '../dag/constants.js'
import { decodeNode } from '../dag/nodes.js'
import type { CmeshNode } from '../node/index.js'
import type { Blockstore } from '../store/interface.js'
import type { FetchProgressEvent, FetchResult } from '../sync/fetch/fetch-interface.js'
import type { UpdateOptions, UpdateProgressEvent, UpdateResult } from '../sync/releases/releases.js'
import type { FetchReport, Progress } from './contract.js'

/** What `cmesh fetch` reports: the verified bytes received, from whom, and how long it took. */
export function fetchReport (r: FetchResult): FetchReport {
  const bytes = Object.values(r.sources).reduce((a, b) => a + b, 0)
  return { cid: r.cid.toString(), bytes, seconds: r.seconds, sources: r.sources, ...r.routed === undefined ? {} : { routed: r.routed } }
}

/**
 * The bytes a DAG declares, from its root once held: a cmesh file or directory node gives the size of the content
 * below it, a raw root is its own length; undefined while the root is missing, or for a DAG of another schema.
 */
function declaredSize (store: Pick<Blockstore, 'getSync'>, root: CID): number | undefined {
  if (root.code !== CODEC_RAW && root.code !== CODEC_DAG_CBOR) return undefined
  let bytes: Uint8Array
  try {
    bytes = store.getSync(root)
  } catch {
    return undefined // not here yet
  }
  if (root.code === CODEC_RAW) return bytes.length
  try {
    return decodeNode(root, bytes).size
  } catch {
    return undefined // DAG-CBOR, but not a cmesh node: no size to go by
  }
}

/**
 * Follow a fetch's events as bytes done of a total. The total is the content size the DAG's root declares (known
 * once the root is stored, usually with the first blocks); done counts the verified bytes fetched. Interior nodes
 * count toward done but not toward the total (a fraction of a percent), so done is capped at the total, and blocks
 * held before the fetch (a resumed download) are not counted: such a bar starts low and completes at the end.
 * `finish` reports done = total once the fetch has succeeded (the total is what was fetched for a DAG that
 * declares no size).
 */
export function fetchProgress (
  store: Pick<Blockstore,
  'getSync'>,
  root: CID,
  report: (p: Progress) => void
): { onProgress: (e: FetchProgressEvent) => void, finish: () => void } {
  let total = declaredSize(store, root)
  let done = 0
  return {
    onProgress: e => {
      if (e.type !== 'fetch:blocks') return
      total ??= declaredSize(store, root)
      done = total === undefined ? e.bytes : Math.min(e.bytes, total)
      report(total === undefined ? { done } : { done, total })
    },
    finish: () => {
      const end = total ?? declaredSize(store, root) ?? done
      report({ done: end, total: end })
    }
  }
}

/** Fetch a DAG, reporting progress as bytes done of a total (see fetchProgress). */
export async function fetchWithProgress (node: CmeshNode, cid: CID, onProgress?: (p: Progress) => void): Promise<FetchReport> {
  if (onProgress === undefined) return fetchReport(await node.fetch(cid))
  const progress = fetchProgress(node.store, cid, onProgress)
  const result = await node.fetch(cid, { onProgress: progress.onProgress })
  progress.finish()
  return fetchReport(result)
}

/**
 * Install a release, reporting progress as bytes done of a total: the total is the release's content size (from
 * its manifest, once chosen), done the verified bytes fetched, dependencies' fetches added on (the total grows with
 * them: their sizes are not known ahead).
 */
export async function updateWithProgress (
  node: CmeshNode,
  name: string,
  options: Omit<UpdateOptions,
  'onProgress'>,
  onProgress?: (p: Progress) => void
): Promise<UpdateResult> {
  if (onProgress === undefined) return await node.update(name, options)
  let total = 0
  let base = 0
  let last = 0
  const result = await node.update(name, {
    ...options,
    onProgress: (e: UpdateProgressEvent) => {
      if (e.type === 'update:release') total = e.size
      if (e.type !== 'fetch:blocks') return
      if (e.bytes < last) base += last // a dependency's fetch counts from 0 again
      last = e.bytes
      total = Math.max(total, base + last)
      onProgress({ done: base + last, total })
    }
  })
  if (!result.upToDate) {
    total = Math.max(total, base + last)
    onProgress({ done: total, total })
  }
  return result
}
