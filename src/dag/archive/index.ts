/**
 * Archive-aware import: a gzip-compressed tar is stored as its uncompressed stream, cut at member boundaries,
 * plus a recipe (gzip header, compressor and its settings) proven at import to rebuild the archive byte for byte;
 * reading rebuilds it and checks its SHA-256. An archive the recipe rebuilds most of keeps the rest as a
 * delta; one it cannot is stored as it is (the caller's fallback on ArchiveError). zip (wheels) and ar (.deb)
 * are cut at member boundaries and rebuilt by concatenation.
 */
import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { ArchiveRebuildError } from '../../errors.js'
import type { ArchiveNode } from '../nodes.js'
import { MAX_MEMBERS, MAX_VERIFIED_ARCHIVES } from './constants.js'
import { rebuildGzip, type DeflateSettings } from './gzip.js'
import { LinkTree } from './link-tree.js'
import { archiveSegments, segmentedFormat, type SegmentedFormat } from './segments.js'
import { copies, expansionLimit, proveRecipe, sniffTarGzip, storeTarGzip, type ArchiveSink, type RangeReader } from './tar-gzip.js'

export { SNIFF_BYTES } from './constants.js'
export type { ArchiveSink, RangeReader } from './tar-gzip.js'
export type { DeflateSettings } from './gzip.js'

/** How an archive was stored (`add --json`'s `archive`). */
export interface ArchiveReport {
  format: 'tar+gzip' | SegmentedFormat
  /**
   * 'recipe': members and a recipe that rebuilds the archive (tar+gzip); 'delta': the same, the recipe rebuilding
   * the archive's start and its remaining bytes stored as they are (`deltaBytes`); 'members': its bytes cut at
   * member boundaries, rebuilt by concatenation (zip, ar); 'raw': its bytes as they are (see `reason`).
   */
  stored: 'recipe' | 'delta' | 'members' | 'raw'
  /** Why it was stored raw: an error code (ERR_ARCHIVE_NOT_REPRODUCIBLE, ERR_ARCHIVE_INVALID, ERR_ARCHIVE_TOO_LARGE). */
  reason?: string
  /** Members listed in the tree, and those left out of it (unsafe names, links to nothing). */
  members?: number
  skipped?: number
  /** The compressor and settings that rebuild it (or its start, with a delta). */
  settings?: DeflateSettings
  /** Bytes of the archive stored as they are, past what the recipe rebuilds. */
  deltaBytes?: number
}

/**
 * Import a file as an archive if it is one: undefined when `head` (the file's first SNIFF_BYTES) is not a
 * recognised archive. Throws ArchiveError (ERR_ARCHIVE_*) when it is one that cannot be stored member by member;
 * blocks written for it until then (a tar header bad part way, a proof failing after its screen passed) stay
 * unpinned, for GC.
 */
export async function importArchive (
  sink: ArchiveSink,
  read: RangeReader,
  size: number,
  head: Uint8Array
): Promise<{ cid: CID, report: ArchiveReport } | undefined> {
  const format = segmentedFormat(head)
  if (format !== undefined) return await importSegmented(sink, read, size, format)
  const found = await sniffTarGzip(head, size)
  if (found === undefined) return undefined
  // a proof the screen makes likely runs beside the store pass (zlib on its own threads); another is awaited first,
  // so an archive that falls back to its raw bytes has nothing written for it
  const proof = proveRecipe(read, size, head, found, sink.checkAbort)
  if (!found.conclusive) await proof
  const stored = await storeTarGzip(sink, read, size, found.headerLength, proof)
  const { compressor, level, memLevel, windowBits, strategy } = stored.proven.recipe
  const report: ArchiveReport = {
    format: 'tar+gzip',
    stored: stored.tail === undefined ? 'recipe' : 'delta',
    members: stored.members,
    skipped: stored.skipped,
    settings: { compressor, level, memLevel, windowBits, strategy }
  }
  if (stored.tail !== undefined) report.deltaBytes = stored.tail.size
  verified.remember(stored.cid) // proven by rebuilding it
  return { cid: stored.cid, report }
}

/**
 * A zip (wheel) or ar (.deb) archive cut at member boundaries: each member's bytes (compressed on their own, or
 * not at all) as the file DAG a plain file of that length gets, so an unchanged member dedupes between versions.
 * The root is a plain file node: reading it is concatenation. Undefined when the archive's index does not add up
 * (then it is imported as it is).
 */
async function importSegmented (
  sink: ArchiveSink,
  read: RangeReader,
  size: number,
  format: SegmentedFormat
): Promise<{ cid: CID, report: ArchiveReport } | undefined> {
  const bytes = async (start: number, end: number): Promise<Uint8Array> => {
    const parts: Uint8Array[] = []
    for await (const b of read(start, end)) parts.push(b)
    return Buffer.concat(parts)
  }
  const segments = await archiveSegments(format, bytes, size, MAX_MEMBERS)
  if (segments === undefined) return undefined
  const tree = new LinkTree(sink.node)
  for (const s of segments) {
    sink.checkAbort()
    await tree.add(await sink.file(copies(read(s.start, s.end)), s.end - s.start))
  }
  const root = await tree.finish()
  if (root === undefined) return undefined
  return { cid: root.cid, report: { format, stored: 'members', members: segments.filter(s => s.member).length } }
}

/** Reads bytes [from, to) of the file DAG `cid`, verified block by block. */
export type DagRangeReader = (cid: CID, from: number, to: number) => AsyncIterable<Uint8Array>

/**
 * Archive nodes this process proved (imported) or rebuilt whole to their SHA-256, most recent last: their bytes
 * are served as they are rebuilt. Bounded (MAX_VERIFIED_ARCHIVES); one forgotten is verified again.
 */
class VerifiedArchives {
  private readonly cids = new Set<string>()

  has (cid: CID): boolean {
    return this.cids.has(cid.toString())
  }

  remember (cid: CID): void {
    const key = cid.toString()
    this.cids.delete(key)
    this.cids.add(key)
    if (this.cids.size > MAX_VERIFIED_ARCHIVES) this.cids.delete(this.cids.values().next().value!)
  }
}

const verified = new VerifiedArchives()

/**
 * Bytes [from, to) of the archive, rebuilt from its uncompressed stream (`node.content`, read with `read`); a range
 * is rebuilt from the start (deflate cannot be entered midway) and stops at its end. With a delta, the recipe's
 * output stops at `keep` and the stored tail follows (a range within the tail is read from it alone).
 * An archive node this process has not proven or verified (one fetched from a peer: its recipe and delta are
 * untrusted) is first rebuilt whole and its SHA-256 checked, yielding nothing: ERR_ARCHIVE_REBUILD if it differs
 * (a forged node, or a build that compresses differently from the one that proved the recipe), before any byte is
 * served. Nothing past node.size is ever given out (decoding checks a delta adds up to it), and a stream larger
 * than an import would inflate for an archive of that size is refused unread.
 */
export async function * rebuildArchive (
  cid: CID,
  node: ArchiveNode,
  read: DagRangeReader,
  from = 0,
  to = Number.POSITIVE_INFINITY
): AsyncGenerator<Uint8Array> {
  if (node.content.size > expansionLimit(node.size)) throw new ArchiveRebuildError(cid.toString())
  if (!verified.has(cid)) {
    // a mismatch shows only at the end: untrusted bytes are rebuilt once unseen, then served
    for await (const _ of rebuildRange(cid, node, read, 0, Number.POSITIVE_INFINITY)) { /* verify only */ }
  }
  yield * rebuildRange(cid, node, read, from, to)
}

async function * rebuildRange (cid: CID, node: ArchiveNode, read: DagRangeReader, from: number, to: number): AsyncGenerator<Uint8Array> {
  const end = Math.min(to, node.size)
  const keep = node.delta?.keep ?? node.size
  if (node.delta !== undefined && from >= keep) {
    yield * read(node.delta.tail.cid, from - keep, end - keep)
    return
  }
  const hash = createHash('sha256')
  let pos = 0
  for await (const bytes of rebuildGzip(node.gzip, read(node.content.cid, 0, node.content.size))) {
    const piece = bytes.subarray(0, Math.max(0, Math.min(bytes.length, keep - pos)))
    hash.update(piece)
    const next = pos + piece.length
    if (next > from && pos < end) yield piece.subarray(Math.max(0, from - pos), Math.min(piece.length, end - pos))
    pos = next
    if (pos >= end && end < node.size) return
    if (pos >= keep) break
  }
  if (node.delta !== undefined && pos === keep) {
    for await (const bytes of read(node.delta.tail.cid, 0, node.delta.tail.size)) {
      hash.update(bytes)
      const next = pos + bytes.length
      if (next > from && pos < end) yield bytes.subarray(Math.max(0, from - pos), Math.min(bytes.length, end - pos))
      pos = next
      if (pos >= end && end < node.size) return
    }
  }
  if (pos !== node.size || !hash.digest().equals(node.sha256)) throw new ArchiveRebuildError(cid.toString())
  verified.remember(cid)
}
