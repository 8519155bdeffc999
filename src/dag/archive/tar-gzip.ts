import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { ArchiveError } from '../../errors.js'
import { encodeArchiveNode, type DirEntry, type FileLink, type GzipRecipe } from '../nodes.js'
import { ByteReader } from './byte-reader.js'
import { EXPANSION_FREE_BYTES, MAX_DELTA_SHARE, MAX_EXPANSION_RATIO, MAX_META_RECORD, MAX_META_SEGMENT, SCREEN_INPUT_BYTES, TAR_BLOCK } from './constants.js'
import { commonPrefix, gzipHeaderLength, inflateRaw, isGzip, rebuildGzip, screenSettings, type DeflateSettings, type Screen } from './gzip.js'
import { LinkTree } from './link-tree.js'
import { MemberTree } from './members.js'
import { FILE_TYPES, META_TYPES, isZeroBlock, longName, memberPath, padding, parsePax, parseTarHeader, utf8 } from './tar.js'

/** Reads bytes [start, end) of the archive file, afresh each call. */
export type RangeReader = (start: number, end: number) => AsyncIterable<Uint8Array>

/** Where an archive's parts are stored: the importer's writer and chunker. */
export interface ArchiveSink {
  /** Store content cut as a plain file of that many bytes would be (length undefined: learnt from the bytes). */
  file: (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, length: number | undefined) => Promise<FileLink>
  /** Store a DAG-CBOR node. */
  node: (bytes: Uint8Array) => Promise<CID>
  /** Store a directory's entries (split into parts when large). */
  directory: (entries: DirEntry[]) => Promise<FileLink>
  /** The uncompressed stream's length is known: progress counts toward it. */
  expect: (bytes: number) => void
  checkAbort: () => void
}

/** A gzip-compressed tar recognised from the file's first bytes, with the settings its start screened. */
export interface TarGzipHead extends Screen {
  headerLength: number
}

/** Uncompressed bytes allowed for an archive of `size` bytes. */
export function expansionLimit (size: number): number {
  return Math.max(EXPANSION_FREE_BYTES, size * MAX_EXPANSION_RATIO)
}

async function prefix (source: AsyncIterable<Uint8Array>, max: number): Promise<{ bytes: Uint8Array, ended: boolean }> {
  const parts: Uint8Array[] = []
  let length = 0
  try {
    for await (const chunk of source) {
      parts.push(chunk)
      length += chunk.length
      if (length >= max) return { bytes: Buffer.concat(parts).subarray(0, max), ended: false }
    }
  } catch (err) {
    // the head is only the start of a longer file: its deflate stream ends early
    if (!(err instanceof ArchiveError) || length === 0) throw err
    return { bytes: Buffer.concat(parts), ended: false }
  }
  return { bytes: Buffer.concat(parts), ended: true }
}

/**
 * Is this file (`head`: its first bytes; `size`: its length) a gzip-compressed tar? Undefined when it is not
 * gzip, or gzip of something that is not tar. Also screens zlib settings on the start of the stream.
 * Throws ERR_ARCHIVE_* when it looks like one but cannot be read.
 */
export async function sniffTarGzip (head: Uint8Array, size: number): Promise<TarGzipHead | undefined> {
  if (!isGzip(head)) return undefined
  const headerLength = gzipHeaderLength(head)
  const whole = head.length === size
  const deflated = head.subarray(headerLength, whole ? size - 8 : head.length)
  const { bytes, ended } = await prefix(inflateRaw([deflated], expansionLimit(size)), SCREEN_INPUT_BYTES)
  if (bytes.length < TAR_BLOCK) return undefined
  const first = bytes.subarray(0, TAR_BLOCK)
  if (isZeroBlock(first)) return undefined
  try { parseTarHeader(first) } catch { return undefined } // gzip of something else
  const screen = screenSettings(bytes, deflated, whole && ended, head[8]!)
  if (screen.settings.length === 0 && screen.nearest === undefined) {
    throw new ArchiveError('ERR_ARCHIVE_NOT_REPRODUCIBLE', 'no deflate setting reproduces the start of this gzip stream')
  }
  return { headerLength, ...screen }
}

/** Copies in buffers of their own (a chunk worker may take them). */
export async function * copies (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const b of source) yield new Uint8Array(b)
}

/**
 * A proven recipe: the setting that rebuilds the archive, the archive's SHA-256, and the uncompressed stream's
 * length. With `keep`, the recipe's output equals the archive's first `keep` bytes only (a delta stores the rest),
 * and `streamBytes` is undefined (the proof stopped there).
 */
export interface ProvenRecipe { recipe: GzipRecipe, sha256: Uint8Array, streamBytes?: number, keep?: number }

/** Rebuild the archive with `s` and compare it with the file: the bytes equal from the start, `same` when all are. */
interface Attempt { keep: number, same: boolean, hash: Uint8Array, streamBytes: number }

async function attempt (read: RangeReader, size: number, header: Uint8Array, s: DeflateSettings, checkAbort: () => void): Promise<Attempt> {
  const recipe = { header, ...s }
  const expected = new ByteReader(read(0, size))
  const hash = createHash('sha256')
  let streamBytes = 0
  let keep = 0
  async function * counted (): AsyncGenerator<Uint8Array> {
    for await (const c of inflateRaw(read(header.length, size - 8), expansionLimit(size))) {
      streamBytes += c.length
      yield c
    }
  }
  for await (const out of rebuildGzip(recipe, counted())) {
    checkAbort()
    const want = await expected.read(out.length)
    const equal = commonPrefix(out, want)
    keep += equal
    if (equal !== out.length) return { keep, same: false, hash: new Uint8Array(0), streamBytes }
    hash.update(out)
  }
  return { keep, same: (await expected.some(1)).length === 0, hash: hash.digest(), streamBytes }
}

async function fileHash (read: RangeReader, size: number): Promise<Uint8Array> {
  const hash = createHash('sha256')
  for await (const b of read(0, size)) hash.update(b)
  return hash.digest()
}

/**
 * Prove a recipe: rebuild the whole archive from its inflated stream and compare it byte for byte with the file.
 * The screened settings are tried in turn; when none rebuilds it, the one that reproduced the longest start (the
 * screen's nearest miss included) makes a delta, if the bytes past that start are at most MAX_DELTA_SHARE of the
 * archive. Else ERR_ARCHIVE_NOT_REPRODUCIBLE.
 */
export async function proveRecipe (read: RangeReader, size: number, head: Uint8Array, found: TarGzipHead, checkAbort: () => void): Promise<ProvenRecipe> {
  const header = Uint8Array.from(head.subarray(0, found.headerLength))
  let best: { settings: DeflateSettings, keep: number } | undefined
  const tried = [...found.settings]
  const near = found.nearest?.settings
  if (near !== undefined && !tried.some(s => JSON.stringify(s) === JSON.stringify(near))) tried.push(near)
  for (const s of tried) {
    const r = await attempt(read, size, header, s, checkAbort)
    if (r.same) return { recipe: { header, ...s }, sha256: r.hash, streamBytes: r.streamBytes }
    if (r.keep > (best?.keep ?? 0)) best = { settings: s, keep: r.keep }
  }
  if (best === undefined || best.keep <= found.headerLength || size - best.keep > size * MAX_DELTA_SHARE || best.keep >= size) {
    throw new ArchiveError('ERR_ARCHIVE_NOT_REPRODUCIBLE', 'no deflate setting rebuilds this archive byte for byte, nor most of it')
  }
  return { recipe: { header, ...best.settings }, sha256: await fileHash(read, size), keep: best.keep }
}

function invalid (reason: string): never {
  throw new ArchiveError('ERR_ARCHIVE_INVALID', `tar: ${reason}`)
}

/**
 * Store a gzip-compressed tar: its uncompressed stream cut at member boundaries (header blocks in segments of
 * their own, each regular member's content as the file DAG a plain file of its length gets, so it shares blocks
 * with the unpacked tree, then its zero padding), a directory tree of the members, and the archive node over both.
 * The stream's nodes are grouped by content (LinkTree). `proof` may still be running (zlib works on its own
 * threads): the archive node is written only once it has passed, and its failure is this call's.
 */
export async function storeTarGzip (
  sink: ArchiveSink,
  read: RangeReader,
  size: number,
  headerLength: number,
  proof: Promise<ProvenRecipe>
): Promise<{ cid: CID, members: number, skipped: number, proven: ProvenRecipe, tail?: FileLink }> {
  void proof.then(p => { if (p.streamBytes !== undefined) sink.expect(p.streamBytes) }, () => {})
  const reader = new ByteReader(inflateRaw(read(headerLength, size - 8), expansionLimit(size)))
  const stream = new LinkTree(sink.node)
  const members = new MemberTree()
  let meta: Uint8Array[] = []
  let metaBytes = 0
  const keep = (bytes: Uint8Array): void => { meta.push(new Uint8Array(bytes)); metaBytes += bytes.length }
  const flushMeta = async (): Promise<void> => {
    if (metaBytes === 0) return
    const parts = meta
    const length = metaBytes
    meta = []
    metaBytes = 0
    await stream.add(await sink.file(parts, length))
  }
  const body = async (n: number): Promise<Uint8Array> => {
    const bytes = await reader.read(n)
    if (bytes.length !== n) invalid('archive ends inside a member')
    return bytes
  }
  let path: Uint8Array | undefined
  let linkpath: Uint8Array | undefined
  for (;;) {
    sink.checkAbort()
    const block = await reader.read(TAR_BLOCK)
    if (block.length === 0) break // no end-of-archive blocks: some writers stop here
    if (block.length < TAR_BLOCK) { keep(block); break }
    if (isZeroBlock(block)) {
      // end of archive: the zero blocks and whatever follows, as one last segment
      const head = meta
      meta = []
      metaBytes = 0
      async function * tail (): AsyncGenerator<Uint8Array> { yield * head; yield new Uint8Array(block); yield * reader.rest() }
      await stream.add(await sink.file(tail(), undefined))
      break
    }
    const h = parseTarHeader(block)
    keep(block)
    const bodyBytes = h.size + padding(h.size)
    if (META_TYPES.has(h.type)) {
      if (h.size > MAX_META_RECORD) invalid(`a type ${h.type} record of ${h.size} bytes`)
      const bytes = await body(bodyBytes)
      keep(bytes)
      if (h.type === 'x') ({ path, linkpath } = { path, linkpath, ...parsePax(bytes.subarray(0, h.size)) })
      if (h.type === 'L') path = longName(bytes.subarray(0, h.size))
      if (h.type === 'K') linkpath = longName(bytes.subarray(0, h.size))
      continue
    }
    const parts = memberPath(path ?? h.name)
    const target = linkpath ?? h.linkname
    path = undefined
    linkpath = undefined
    if (FILE_TYPES.has(h.type) && h.size > 0) {
      await flushMeta()
      const link = await sink.file(reader.take(h.size), h.size)
      if (link.size !== h.size) invalid(`member declares ${h.size} bytes, past the end of the archive`)
      await stream.add(link)
      if (parts === undefined) members.skip()
      else members.file(parts, link.cid, link.size, h.mode)
      const pad = await body(padding(h.size))
      // zero padding is a segment of its own: one of 511 leaves every archive shares, where in the next header's segment it would be new with it
      if (pad.length > 0 && isZeroBlock(pad)) await stream.add(await sink.file([new Uint8Array(pad)], pad.length))
      else keep(pad)
    } else {
      if (h.size > 0) keep(await body(bodyBytes)) // a body no reader takes as content (unknown types)
      if (parts === undefined) members.skip()
      else if (FILE_TYPES.has(h.type)) members.file(parts, (await sink.file([], 0)).cid, 0, h.mode)
      else if (h.type === '5') members.dir(parts, h.mode)
      else if (h.type === '2') members.symlink(parts, utf8(target), h.mode)
      else if (h.type === '1') members.hardLink(parts, memberPath(target), h.mode)
      else members.skip()
    }
    if (metaBytes >= MAX_META_SEGMENT) await flushMeta()
  }
  await flushMeta()
  const content = await stream.finish()
  const tree = await members.build(sink.directory)
  const proven = await proof
  if (content === undefined || (proven.streamBytes !== undefined && content.size !== proven.streamBytes)) invalid('stream length differs from the proof')
  let delta: { keep: number, tail: FileLink } | undefined
  if (proven.keep !== undefined) delta = { keep: proven.keep, tail: await sink.file(copies(read(proven.keep, size)), size - proven.keep) }
  const cid = await sink.node(encodeArchiveNode({ size, format: 'tar+gzip', content, tree: tree.cid, gzip: proven.recipe, sha256: proven.sha256, ...delta === undefined ? {} : { delta } }))
  return { cid, members: members.members, skipped: members.skipped, proven, tail: delta?.tail }
}
