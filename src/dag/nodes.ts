import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { InvalidNodeError } from '../errors.js'
import { decodeCanonical } from '../store/links.js'
import { DIR_PART_ENTRIES, MAX_BLOCK_SIZE } from './constants.js'

/**
 * The cmesh DAG schema, encoded in DAG-CBOR. Every link carries the byte size below it, so a byte range can be
 * located from the root without reading leaves, and every block can be verified on its own.
 *
 *   file node:  { type: 'file', size, links: [[cid, size], ...] }         cid: raw leaf or file node
 *   dir node:   { type: 'dir', size, entries: [entry, ...] }              entries sorted by name (UTF-8 bytes)
 *   dir parts:  { type: 'dir', size, count, parts: [[cid, size, count], ...] }  a large directory split in order
 *   entry:      [name, 0 (file) | 1 (dir), cid, size, mode]
 *               [name, 2 (symlink), target, 0, mode]
 * Entries are tuples, not maps: a map would repeat five key names in every entry, and directory nodes are
 * resent whole whenever one file in them changes.
 *
 * A file that fits one chunk is its raw leaf: no node at all.
 *
 *   archive node: { type: 'archive', size, format: 'tar+gzip', content: [cid, size], tree: cid,
 *                   gzip: [header, level, memLevel, windowBits, strategy(, 1)], sha256(, delta: [keep, [cid, size]]) }
 *               a file (a .tgz) stored as its uncompressed stream (`content`, a file DAG cut at member boundaries)
 *               and the recipe that compresses it back byte for byte; `tree` is a directory DAG of its members
 *               (sharing their file DAGs with `content`), `sha256` the archive's, checked when it is rebuilt.
 *               A sixth recipe field 1 names canonical zlib (absent: Node's zlib). With `delta`, the recipe's
 *               output is kept for its first `keep` bytes only, and the archive's remaining bytes are the file DAG
 *               `cid` (keep + size = the archive's size).
 */

export type EntryKind = 'file' | 'dir' | 'symlink'

export interface FileLink {
  cid: CID
  /** Bytes of file content below this link. */
  size: number
}

export interface FileNode {
  type: 'file'
  size: number
  links: FileLink[]
}

export interface DirEntry {
  name: string
  kind: EntryKind
  /** Root of the file or directory; absent for symlinks. */
  cid?: CID
  /** File bytes (for a directory, the sum of its files). */
  size: number
  /** Permission bits (mode & 0o7777). */
  mode: number
  /** Symlink target, recorded as written; never followed. */
  target?: string
  /** Written to UnixFS only: block bytes below and including the entry's root (a DAG-PB link's Tsize). */
  tsize?: number
}

export interface DirPart {
  cid: CID
  size: number
  count: number
}

export interface DirNode {
  type: 'dir'
  size: number
  entries?: DirEntry[]
  parts?: DirPart[]
  /** Entries below this node (only on split directories). */
  count?: number
}

/**
 * The deflate implementation a recipe names: 'node' is the zlib Node bundles (Chromium's fork, whose hashing
 * differs from zlib's), 'canonical' is zlib's own algorithm (pako with zlib's hash, byte-equal to zlib 1.3).
 */
export type Compressor = 'node' | 'canonical'

/** How a gzip member is rebuilt: its header bytes as found, then raw deflate with these settings. */
export interface GzipRecipe {
  header: Uint8Array
  compressor: Compressor
  level: number
  memLevel: number
  windowBits: number
  strategy: number
}

export interface ArchiveNode {
  type: 'archive'
  /** Bytes of the archive file. */
  size: number
  format: 'tar+gzip'
  /** The uncompressed stream. */
  content: FileLink
  /** Directory DAG of the members. */
  tree: CID
  gzip: GzipRecipe
  /** SHA-256 of the archive file. */
  sha256: Uint8Array
  /** The recipe reproduces the archive's first `keep` bytes only; the rest is stored as it is (`tail`). */
  delta?: { keep: number, tail: FileLink }
}

export type DagNode = FileNode | DirNode | ArchiveNode

/** Bytes of a gzip header kept in a recipe (FEXTRA, a file name and a comment fit). */
export const MAX_GZIP_HEADER = 4096

const KIND_CODES: Record<EntryKind, number> = { file: 0, dir: 1, symlink: 2 }
const KINDS: EntryKind[] = ['file', 'dir', 'symlink']
const MAX_NAME_BYTES = 255
/** Longest symlink target accepted, in UTF-8 bytes (PATH_MAX on Linux). */
export const MAX_TARGET_BYTES = 4096
const encoder = new TextEncoder()

export function encodeFileNode (links: FileLink[]): Uint8Array {
  let size = 0
  for (const l of links) size += l.size
  return dagCbor.encode({ type: 'file', size, links: links.map(l => [l.cid, l.size]) })
}

export function encodeDirNode (entries: DirEntry[]): Uint8Array {
  let size = 0
  const out = entries.map(e => {
    size += e.size
    return e.kind === 'symlink'
      ? [e.name, KIND_CODES.symlink, e.target, 0, e.mode]
      : [e.name, KIND_CODES[e.kind], e.cid, e.size, e.mode]
  })
  return dagCbor.encode({ type: 'dir', size, entries: out })
}

export function encodeDirParts (parts: DirPart[]): Uint8Array {
  let size = 0
  let count = 0
  for (const p of parts) { size += p.size; count += p.count }
  return dagCbor.encode({ type: 'dir', size, count, parts: parts.map(p => [p.cid, p.size, p.count]) })
}

export function encodeArchiveNode (node: Omit<ArchiveNode, 'type'>): Uint8Array {
  const g = node.gzip
  return dagCbor.encode({
    type: 'archive',
    size: node.size,
    format: node.format,
    content: [node.content.cid, node.content.size],
    tree: node.tree,
    gzip: [g.header, g.level, g.memLevel, g.windowBits, g.strategy, ...g.compressor === 'canonical' ? [1] : []],
    sha256: node.sha256,
    ...node.delta === undefined ? {} : { delta: [node.delta.keep, [node.delta.tail.cid, node.delta.tail.size]] }
  })
}

function inRange (v: unknown, min: number, max: number): v is number {
  return isSize(v) && v >= min && v <= max
}

function decodeArchive (cid: CID, node: Record<string, unknown>): ArchiveNode {
  exactKeys(cid, node, ['type', 'size', 'format', 'content', 'tree', 'gzip', 'sha256', ...Object.hasOwn(node, 'delta') ? ['delta'] : []], 'archive node')
  if (node.format !== 'tar+gzip') fail(cid, 'unknown archive format')
  const c = node.content
  if (!Array.isArray(c) || c.length !== 2 || CID.asCID(c[0]) == null || !isSize(c[1])) fail(cid, 'archive content is not [cid, size]')
  const tree = CID.asCID(node.tree)
  if (tree == null) fail(cid, 'archive tree is not a CID')
  const g = node.gzip
  if (!Array.isArray(g) || (g.length !== 5 && g.length !== 6)) fail(cid, 'gzip recipe is not [header, level, memLevel, windowBits, strategy(, 1)]')
  const [header, level, memLevel, windowBits, strategy, compressor] = g as unknown[]
  if (g.length === 6 && compressor !== 1) fail(cid, 'unknown compressor') // Node's zlib is the field's absence: one encoding per recipe
  if (!(header instanceof Uint8Array) || header.length < 10 || header.length > MAX_GZIP_HEADER) fail(cid, 'bad gzip header')
  if (!inRange(level, 0, 9) || !inRange(memLevel, 1, 9) || !inRange(windowBits, 9, 15) || !inRange(strategy, 0, 4)) fail(cid, 'bad deflate settings')
  if (!(node.sha256 instanceof Uint8Array) || node.sha256.length !== 32) fail(cid, 'bad sha256')
  let delta: ArchiveNode['delta']
  if (Object.hasOwn(node, 'delta')) {
    const d = node.delta
    const tail = Array.isArray(d) && d.length === 2 ? d[1] as unknown : undefined
    if (!Array.isArray(d) || !Array.isArray(tail) || tail.length !== 2 || CID.asCID(tail[0]) == null || !isSize(d[0]) || !isSize(tail[1])) {
      fail(cid, 'archive delta is not [keep, [cid, size]]')
    }
    // capped by the archive's own size: the delta never makes a rebuild yield more, or read more, than the archive
    if (d[0] + tail[1] !== node.size || tail[1] === 0) fail(cid, 'archive delta does not add up to its size')
    delta = { keep: d[0], tail: { cid: CID.asCID(tail[0])!, size: tail[1] } }
  }
  return {
    type: 'archive',
    size: node.size as number,
    format: 'tar+gzip',
    content: { cid: CID.asCID(c[0])!, size: c[1] },
    tree,
    gzip: { header, compressor: compressor === 1 ? 'canonical' : 'node', level, memLevel, windowBits, strategy },
    sha256: node.sha256,
    ...delta === undefined ? {} : { delta }
  }
}

/** Rough encoded size of an entry, used to keep directory nodes well under the block limit. */
export function entryEncodedSize (e: DirEntry): number {
  return 64 + e.name.length * 3 + (e.target?.length ?? 0) * 3
}

/**
 * Whether a part of a split directory ends after the entry `name` (level 0), or a parts node after a part whose last
 * entry is `name` (level 1 and up): the first 32 bits of SHA-256 over the level and the name are a multiple of
 * DIR_PART_ENTRIES.
 */
export function endsPart (name: string, level: number): boolean {
  return createHash('sha256').update(`${level}/${name}`).digest().readUInt32BE(0) % DIR_PART_ENTRIES === 0
}

/**
 * Where a run of items ends, content-defined (indices into the run, the last one its length): after each item
 * `ends(i)` says ends a part, and where a part would pass `fanout` items or `maxBytes` (`cost(i)`; only then does a
 * cut depend on more than the item itself).
 */
export function cutRun (
  length: number, ends: (i: number) => boolean, fanout: number, maxBytes = Number.POSITIVE_INFINITY, cost: (i: number) => number = () => 0
): number[] {
  const out: number[] = []
  let count = 0
  let bytes = 0
  for (let i = 0; i < length; i++) {
    const c = cost(i)
    if (count > 0 && (count >= fanout || bytes + c > maxBytes)) {
      out.push(i)
      count = 0
      bytes = 0
    }
    count++
    bytes += c
    if (ends(i) && i < length - 1) {
      out.push(i + 1)
      count = 0
      bytes = 0
    }
  }
  if (length > 0) out.push(length)
  return out
}

/**
 * Where the parts of a directory end (indices into `entries`, sorted by name): one part when the entries encode to
 * at most `splitBytes`, else cut by name (endsPart at level 0), at most `fanout` entries and `maxBytes` a part.
 */
export function partEnds (entries: DirEntry[], fanout: number, maxBytes: number, splitBytes: number): number[] {
  let total = 0
  for (const e of entries) total += entryEncodedSize(e)
  const split = total > splitBytes
  return cutRun(entries.length, i => split && endsPart(entries[i]!.name, 0), fanout, maxBytes, i => entryEncodedSize(entries[i]!))
}

function fail (cid: CID | string, reason: string): never {
  throw new InvalidNodeError(cid.toString(), reason)
}

function isSize (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function exactKeys (cid: CID, obj: Record<string, unknown>, required: string[], what: string): void {
  const keys = Object.keys(obj)
  if (keys.length !== required.length || !required.every(k => Object.hasOwn(obj, k))) {
    fail(cid, `${what} must have exactly the fields ${required.join(', ')}, got ${keys.join(', ')}`)
  }
}

/** Names must be safe to create as one path component anywhere. */
export function checkEntryName (name: string): string | undefined {
  if (name.length === 0) return 'empty name'
  if (name === '.' || name === '..') return 'dot name'
  if (name.includes('/')) return 'name contains /'
  if (name.includes('\\')) return 'name contains \\'
  if (name.includes('\0')) return 'name contains NUL'
  if (/\p{Cs}/u.test(name)) return 'name is not well-formed Unicode' // a lone surrogate would be written as U+FFFD
  if (encoder.encode(name).length > MAX_NAME_BYTES) return `name longer than ${MAX_NAME_BYTES} bytes`
  return undefined
}

function decodeEntry (cid: CID, raw: unknown): DirEntry {
  if (!Array.isArray(raw) || raw.length !== 5) fail(cid, 'entry is not [name, kind, cid or target, size, mode]')
  const [name, kindCode, ref, size, mode] = raw as [unknown, unknown, unknown, unknown, unknown]
  if (typeof name !== 'string') fail(cid, 'entry name is not a string')
  const bad = checkEntryName(name)
  if (bad !== undefined) fail(cid, `entry ${JSON.stringify(name)}: ${bad}`)
  const kind = typeof kindCode === 'number' ? KINDS[kindCode] : undefined
  if (kind === undefined) fail(cid, `entry ${name}: unknown kind`)
  if (!isSize(mode) || mode > 0o7777) fail(cid, `entry ${name}: bad mode`)
  if (!isSize(size)) fail(cid, `entry ${name}: bad size`)
  if (kind === 'symlink') {
    if (typeof ref !== 'string' || ref.length === 0 || ref.includes('\0') || encoder.encode(ref).length > MAX_TARGET_BYTES) fail(cid, `entry ${name}: bad symlink target`)
    if (size !== 0) fail(cid, `entry ${name}: symlink size must be 0`)
    return { name, kind, target: ref, size: 0, mode }
  }
  const link = CID.asCID(ref)
  if (link == null) fail(cid, `entry ${name}: not a CID`)
  return { name, kind, cid: link, size, mode }
}

function compareNames (a: string, b: string): number {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  return Buffer.compare(x, y)
}

/** Sort entries by the UTF-8 bytes of their names: the canonical order of a directory node. */
export function sortEntries (entries: DirEntry[]): DirEntry[] {
  return entries.sort((a, b) => compareNames(a.name, b.name))
}

/** Decode a DAG-CBOR block as a cmesh node, rejecting anything outside the schema. */
export function decodeNode (cid: CID, bytes: Uint8Array): DagNode {
  if (bytes.length > MAX_BLOCK_SIZE) fail(cid, 'node larger than the block limit')
  let obj: unknown
  try {
    obj = decodeCanonical(bytes)
  } catch (err) {
    fail(cid, `not canonical DAG-CBOR (${(err as Error).message})`)
  }
  return nodeFromValue(cid, obj)
}

/** Is a decoded DAG-CBOR value meant as a cmesh node (a map whose `type` is 'file', 'dir' or 'archive')? */
export function isNodeShaped (value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) return false
  const type = (value as { type?: unknown }).type
  return type === 'file' || type === 'dir' || type === 'archive'
}

/** A decoded DAG-CBOR value as a cmesh node, rejecting anything outside the schema. */
export function nodeFromValue (cid: CID, obj: unknown): DagNode {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) fail(cid, 'not a map')
  const node = obj as Record<string, unknown>
  if (!isSize(node.size)) fail(cid, 'bad size')
  if (node.type === 'file') {
    exactKeys(cid, node, ['type', 'size', 'links'], 'file node')
    if (!Array.isArray(node.links) || node.links.length === 0) fail(cid, 'file node without links')
    let sum = 0
    const links: FileLink[] = node.links.map((l: unknown) => {
      if (!Array.isArray(l) || l.length !== 2) fail(cid, 'link is not [cid, size]')
      const link = CID.asCID(l[0])
      if (link == null || !isSize(l[1])) fail(cid, 'link is not [cid, size]')
      sum += l[1]
      return { cid: link, size: l[1] }
    })
    if (sum !== node.size) fail(cid, `links add up to ${sum} bytes, node says ${node.size}`)
    return { type: 'file', size: node.size, links }
  }
  if (node.type === 'dir') {
    if (Object.hasOwn(node, 'parts')) {
      exactKeys(cid, node, ['type', 'size', 'count', 'parts'], 'directory parts node')
      if (!Array.isArray(node.parts) || node.parts.length === 0 || !isSize(node.count)) fail(cid, 'bad directory parts')
      let size = 0
      let count = 0
      const parts: DirPart[] = node.parts.map((p: unknown) => {
        if (!Array.isArray(p) || p.length !== 3) fail(cid, 'part is not [cid, size, count]')
        const link = CID.asCID(p[0])
        if (link == null || !isSize(p[1]) || !isSize(p[2])) fail(cid, 'part is not [cid, size, count]')
        size += p[1]
        count += p[2]
        return { cid: link, size: p[1], count: p[2] }
      })
      if (size !== node.size || count !== node.count) fail(cid, 'parts do not add up')
      return { type: 'dir', size: node.size, count: node.count, parts }
    }
    exactKeys(cid, node, ['type', 'size', 'entries'], 'directory node')
    if (!Array.isArray(node.entries)) fail(cid, 'entries is not a list')
    const entries = node.entries.map(e => decodeEntry(cid, e))
    let size = 0
    for (let i = 0; i < entries.length; i++) {
      size += entries[i]!.size
      if (i > 0 && compareNames(entries[i - 1]!.name, entries[i]!.name) >= 0) fail(cid, 'entries not sorted or names repeated')
    }
    if (size !== node.size) fail(cid, `entries add up to ${size} bytes, node says ${node.size}`)
    return { type: 'dir', size: node.size, entries }
  }
  if (node.type === 'archive') return decodeArchive(cid, node)
  fail(cid, 'unknown node type')
}
