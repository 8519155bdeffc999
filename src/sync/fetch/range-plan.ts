import type { CID } from 'multiformats/cid'

/** A wanted chunk at its place in a file. */
export interface PlannedChunk {
  cid: CID
  path: string
  offset: number
  length: number
}

/** One HTTP byte range: [start, end) of the file at `path`, and the chunks it carries, sorted by offset. */
export interface PlannedRange {
  path: string
  start: number
  /** Exclusive. */
  end: number
  chunks: PlannedChunk[]
}

export interface RangePlanOptions {
  /** Bytes between neighbouring chunks downloaded and discarded to merge them into one range. */
  maxGap: number
  /** Largest range; a single chunk longer than this still gets a range of its own. */
  maxRange: number
  /**
   * Every range starts at byte 0 and covers all of a file's wanted chunks (for a server that ignores Range and
   * sends files from their start); chunks ending past `maxRange` are left out and returned in `beyond`.
   */
  fromStart?: boolean
}

export interface RangePlan {
  ranges: PlannedRange[]
  /** Chunks not planned because they end past `maxRange` (only with `fromStart`). */
  beyond: PlannedChunk[]
}

/**
 * Coalesce chunks into few byte ranges: grouped by file, sorted by offset, neighbours merged while the gap
 * between them is at most `maxGap` and the range stays within `maxRange`.
 */
export function planRanges (chunks: PlannedChunk[], options: RangePlanOptions): RangePlan {
  const byPath = new Map<string, PlannedChunk[]>()
  for (const c of chunks) {
    let list = byPath.get(c.path)
    if (list === undefined) byPath.set(c.path, list = [])
    list.push(c)
  }
  const plan: RangePlan = { ranges: [], beyond: [] }
  for (const [path, list] of byPath) {
    list.sort((a, b) => a.offset - b.offset)
    if (options.fromStart === true) {
      const within = list.filter(c => c.offset + c.length <= options.maxRange)
      plan.beyond.push(...list.filter(c => c.offset + c.length > options.maxRange))
      if (within.length > 0) plan.ranges.push({ path, start: 0, end: within.reduce((m, c) => Math.max(m, c.offset + c.length), 0), chunks: within })
      continue
    }
    let current: PlannedRange | undefined
    for (const c of list) {
      const end = c.offset + c.length
      if (current !== undefined && c.offset - current.end <= options.maxGap && Math.max(current.end, end) - current.start <= options.maxRange) {
        current.end = Math.max(current.end, end)
        current.chunks.push(c)
      } else {
        current = { path, start: c.offset, end, chunks: [c] }
        plan.ranges.push(current)
      }
    }
  }
  return plan
}
