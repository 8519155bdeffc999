import { createReadStream } from 'node:fs'
import { lstat, open, readdir, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { AbortError, ArchiveError, InvalidOptionError, PathNotFoundError, UnsupportedFileTypeError } from '../errors.js'
import type { Blockstore } from '../store/interface.js'
import { importArchive, SNIFF_BYTES, type ArchiveReport, type ArchiveSink } from './archive/index.js'
import { BlockWriter } from './block-writer.js'
import { cidOf } from './cid.js'
import {
  CODEC_DAG_CBOR,
  CODEC_DAG_PB,
  CODEC_RAW,
  DEFAULT_DIR_FANOUT,
  DEFAULT_FILE_FANOUT,
  DIR_NODE_TARGET_BYTES,
  DIR_ROOT_PARTS,
  DIR_SPLIT_BYTES,
  LARGE_FILE_BYTES,
  LARGE_FILE_CHUNKER,
  READ_SIZE,
  SMALL_FILE_BYTES,
  SMALL_FILE_CHUNKER
} from './constants.js'
import { allocReadBuffer, cutAndHash, dropSpareReadBuffers, recycleReadBuffer } from './chunker/chunk-pipeline.js'
import { FastCdc, type ChunkerOptions } from './chunker/fastcdc.js'
import { FileTreeBuilder } from './file-tree.js'
import { getHasher, type BlockHasher, type HashName } from './hashing.js'
import { UnixfsFileBuilder, writeUnixfsDirectory } from './unixfs/writer.js'
import { checkEntryName, cutRun, encodeDirNode, encodeDirParts, endsPart, partEnds, sortEntries, type DirEntry, type DirPart } from './nodes.js'

export type ImportProgressEvent =
  | { type: 'import:start', totalBytes: number }
  | { type: 'import:bytes', bytes: number, totalBytes: number }
  | { type: 'import:file', path: string }
  | { type: 'import:skip', path: string, reason: string }

/** How a DAG is written: cmesh's own DAG-CBOR nodes, or UnixFS (DAG-PB, raw leaves) that IPFS tools read. */
export type ImportFormat = 'cmesh' | 'unixfs'

export interface ImportOptions {
  /**
   * The DAG format. 'unixfs': CIDv1 DAG-PB file nodes (`fileFanout` links each) and plain directories over the same
   * raw leaves, modes other than 0644/0755 recorded; archives are stored as they are (as with `raw`). @default 'cmesh'
   */
  format?: ImportFormat
  /**
   * FastCDC sizes for every file. @default by the file's length: SMALL_FILE_CHUNKER (0.5/1/8 KiB) under
   * SMALL_FILE_BYTES (1 MiB), 1/2/16 KiB under LARGE_FILE_BYTES (16 MiB), LARGE_FILE_CHUNKER (8/32/128 KiB) from it
   * on (constants.ts)
   */
  chunker?: ChunkerOptions
  /** Hash of every block. @default 'blake3' */
  hash?: HashName
  /** Pin the root so GC keeps it. @default true */
  pin?: boolean
  /** Whose pin it is (see Blockstore.pin). @default USER_PIN */
  pinOwner?: string
  /** Links per file node before the tree grows a level. @default DEFAULT_FILE_FANOUT (16) */
  fileFanout?: number
  /** Entries in one directory node, and parts in one parts node, at most. @default DEFAULT_DIR_FANOUT (1024) */
  dirFanout?: number
  /**
   * Store a file given as `path` as it is, even when it is a recognised archive (a gzip-compressed tar is
   * otherwise stored as its members plus a recipe that rebuilds it byte for byte). @default false
   */
  raw?: boolean
  /** Chunk and hash large files with worker threads, in parallel with writing. @default true */
  chunkWorker?: boolean
  signal?: AbortSignal
  onProgress?: (event: ImportProgressEvent) => void
}

export interface ImportResult {
  /** Root of the imported DAG. */
  cid: CID
  /** Content bytes (for a directory, the sum of its files). */
  size: number
  /** Unique blocks in the DAG. */
  blocks: number
  /** Blocks the store did not have before. */
  newBlocks: number
  /** Bytes of those blocks: what a holder of the store's earlier content had to receive. */
  newBytes: number
  /** How a recognised archive was stored (absent for anything else, and with `raw`). */
  archive?: ArchiveReport
}

type ImportStore = Pick<Blockstore, 'putMany' | 'pin' | 'markComplete' | 'openSession'>

/** One import: the hasher, chunker settings, the batched writer and progress. */
class ImportContext {
  bytes = 0
  totalBytes = 0
  readonly writer: BlockWriter
  readonly fileFanout: number
  readonly dirFanout: number
  readonly cdc: FastCdc
  readonly chunkWorker: boolean
  readonly unixfs: boolean
  archive: ArchiveReport | undefined

  constructor (readonly hasher: BlockHasher, readonly options: ImportOptions, writer: BlockWriter) {
    this.writer = writer
    this.fileFanout = options.fileFanout ?? DEFAULT_FILE_FANOUT
    this.dirFanout = options.dirFanout ?? DEFAULT_DIR_FANOUT
    if (!Number.isSafeInteger(this.fileFanout) || this.fileFanout < 2 || this.fileFanout > 4096) throw new InvalidOptionError(`fileFanout must be 2-4096, got ${this.fileFanout}`)
    if (!Number.isSafeInteger(this.dirFanout) || this.dirFanout < 2 || this.dirFanout > 4096) throw new InvalidOptionError(`dirFanout must be 2-4096, got ${this.dirFanout}`)
    this.cdc = new FastCdc(options.chunker) // validates the chunker options up front
    this.chunkWorker = options.chunkWorker ?? true
    const format = options.format ?? 'cmesh'
    if (format !== 'cmesh' && format !== 'unixfs') throw new InvalidOptionError(`format must be cmesh or unixfs, got ${JSON.stringify(format)}`)
    this.unixfs = format === 'unixfs'
  }

  checkAbort (): void {
    if (this.options.signal?.aborted === true) throw new AbortError()
  }

  async node (bytes: Uint8Array, codec = CODEC_DAG_CBOR): Promise<CID> {
    const cid = cidOf(this.hasher, codec, bytes)
    await this.writer.put(cid, bytes)
    return cid
  }

  progress (added: number): void {
    this.bytes += added
    this.options.onProgress?.({ type: 'import:bytes', bytes: this.bytes, totalBytes: this.totalBytes })
  }
}

/** Files at least this large go through the worker thread(s) while the main thread writes. */
const PARALLEL_MIN_BYTES = 1024 * 1024

/** A stored DAG: its root, content bytes and (UnixFS) the block bytes below and including the root. */
interface Stored { cid: CID, size: number, tsize?: number }

/** The chunker for content of `length` bytes: the one asked for, else by length (see SMALL_FILE_BYTES, LARGE_FILE_BYTES). */
function chunkerFor (asked: ChunkerOptions | undefined, length: number): ChunkerOptions | undefined {
  if (asked !== undefined) return asked
  if (length < SMALL_FILE_BYTES) return SMALL_FILE_CHUNKER
  return length >= LARGE_FILE_BYTES ? LARGE_FILE_CHUNKER : undefined
}

/**
 * A stream of unknown length: read up to LARGE_FILE_BYTES to learn whether it is a large file (so it is cut as
 * the same bytes imported from a path would be), then hand on what was read and the rest.
 */
async function measured (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ length: number, source: AsyncIterable<Uint8Array> }> {
  const iterator = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()) as
    AsyncIterator<Uint8Array> | Iterator<Uint8Array>
  const head: Uint8Array[] = []
  let length = 0
  let done = false
  while (length < LARGE_FILE_BYTES) {
    const r = await iterator.next()
    if (r.done === true) { done = true; break }
    head.push(r.value)
    length += r.value.length
  }
  async function * rest (): AsyncGenerator<Uint8Array> {
    yield * head
    head.length = 0
    if (done) return
    for (;;) {
      const r = await iterator.next()
      if (r.done === true) return
      yield r.value
    }
  }
  return { length: done ? length : Math.max(length, LARGE_FILE_BYTES), source: rest() }
}

/**
 * Import one file's bytes; `length` is the content's length when known (a path's size), else undefined.
 * @param recycle the source is readFile's: its buffers go back to allocReadBuffer once their chunks are
 *   committed and the chunker has moved past them (it keeps a view of a batch's segment until the next batch)
 */
async function importFileContent (
  ctx: ImportContext,
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  length: number | undefined,
  recycle = false,
  mode?: number
): Promise<Stored> {
  const tree = ctx.unixfs
    ? new UnixfsFileBuilder(ctx.fileFanout, async bytes => await ctx.node(bytes, CODEC_DAG_PB))
    : new FileTreeBuilder(ctx.fileFanout, async bytes => await ctx.node(bytes))
  let source = input
  if (length === undefined && ctx.options.chunker === undefined) ({ length, source } = await measured(input))
  const parallel = (length ?? Number.POSITIVE_INFINITY) >= PARALLEL_MIN_BYTES && ctx.chunkWorker
  const batches = cutAndHash(source, { chunker: chunkerFor(ctx.options.chunker, length ?? 0), hasher: ctx.hasher, parallel, signal: ctx.options.signal })
  let previous: ArrayBuffer[] = []
  for await (const { chunks, cids } of batches) {
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!
      await ctx.writer.put(cids[i]!, chunk)
      await tree.add({ cid: cids[i]!, size: chunk.length })
      ctx.progress(chunk.length)
    }
    if (recycle) {
      const done = previous
      previous = readBuffersOf(chunks)
      if (done.length > 0) ctx.writer.afterLeavesCommitted(() => { for (const b of done) recycleReadBuffer(b) })
    }
  }
  // the chunker has finished: the last batch's buffers are free once committed too
  if (previous.length > 0) ctx.writer.afterLeavesCommitted(() => { for (const b of previous) recycleReadBuffer(b) })
  const root = await tree.finish(mode)
  if (root !== undefined) return root
  const empty = new Uint8Array(0)
  const cid = cidOf(ctx.hasher, CODEC_RAW, empty)
  await ctx.writer.put(cid, empty)
  return { cid, size: 0, tsize: 0 }
}

/** The read buffers (READ_SIZE, from readFile) that chunks are views of; chunks cut across two are copies. */
function readBuffersOf (chunks: Uint8Array[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = []
  for (const c of chunks) {
    const b = c.buffer
    if (b instanceof ArrayBuffer && b.byteLength === READ_SIZE && !out.includes(b)) out.push(b)
  }
  return out
}

/** Read a file into fresh buffers (handed to the chunk workers and back): chunks stay valid until the store commits. */
async function * readFile (path: string): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r')
  try {
    for (;;) {
      const buf = allocReadBuffer(READ_SIZE)
      const { bytesRead } = await fh.read(buf, 0, READ_SIZE, null)
      if (bytesRead === 0) return
      yield buf.subarray(0, bytesRead)
    }
  } finally {
    await fh.close()
  }
}

/** Bytes [start, end) of a file. */
async function * readFileRange (path: string, start: number, end: number): AsyncGenerator<Uint8Array> {
  if (end <= start) return
  yield * createReadStream(path, { start, end: end - 1, highWaterMark: READ_SIZE }) as AsyncIterable<Buffer>
}

/** The first `n` bytes of a file (fewer if it is shorter). */
async function readHead (path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(n)
    const { bytesRead } = await fh.read(buf, 0, n, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

function archiveSink (ctx: ImportContext): ArchiveSink {
  return {
    file: async (source, length) => await importFileContent(ctx, source, length),
    node: async bytes => await ctx.node(bytes),
    directory: async entries => await buildDirectory(ctx, entries),
    expect: bytes => { ctx.totalBytes = bytes },
    checkAbort: () => { ctx.checkAbort() }
  }
}

/** A file given as the path to import: a recognised archive member by member (unless `raw`), else its bytes. */
async function importFile (ctx: ImportContext, path: string, size: number): Promise<Stored> {
  if (ctx.options.raw !== true && !ctx.unixfs) {
    try {
      const stored = await importArchive(archiveSink(ctx), (start, end) => readFileRange(path, start, end), size, await readHead(path, SNIFF_BYTES))
      if (stored !== undefined) {
        ctx.archive = stored.report
        return { cid: stored.cid, size }
      }
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err
      ctx.archive = { format: 'tar+gzip', stored: 'raw', reason: err.code } // zip and ar never throw: they are imported as they are
      ctx.bytes = 0
      ctx.totalBytes = size
    }
  }
  return await importFileContent(ctx, readFile(path), size, true)
}

/**
 * Store a directory's entries as one node, or, when they encode to more than DIR_SPLIT_BYTES, split in order into
 * parts cut by name (nodes.ts partEnds), and while more than DIR_ROOT_PARTS parts remain, parts of parts cut by the
 * name each part ends with (endsPart one level up): a changed entry resends its part and one parts node a level.
 */
async function buildDirectory (ctx: ImportContext, entries: DirEntry[], mode?: number): Promise<Stored> {
  if (ctx.unixfs) return await writeUnixfsDirectory(async bytes => await ctx.node(bytes, CODEC_DAG_PB), entries, mode)
  sortEntries(entries)
  const sizeOf = (items: Array<{ size: number }>): number => items.reduce((s, e) => s + e.size, 0)
  let parts: Array<DirPart & { last: string }> = []
  let start = 0
  for (const end of partEnds(entries, ctx.dirFanout, DIR_NODE_TARGET_BYTES, DIR_SPLIT_BYTES)) {
    const g = entries.slice(start, end)
    start = end
    parts.push({ cid: await ctx.node(encodeDirNode(g)), size: sizeOf(g), count: g.length, last: g[g.length - 1]!.name })
  }
  if (parts.length === 0) return { cid: await ctx.node(encodeDirNode([])), size: 0 }
  if (parts.length === 1) return { cid: parts[0]!.cid, size: parts[0]!.size }
  for (let level = 1; parts.length > DIR_ROOT_PARTS; level++) {
    const run = parts
    let ends = cutRun(run.length, i => endsPart(run[i]!.last, level), ctx.dirFanout)
    // names chosen so that every part ends a group would never shrink the run: group it in fixed runs instead
    if (ends.length === run.length) ends = cutRun(run.length, () => false, DIR_ROOT_PARTS)
    parts = []
    let from = 0
    for (const end of ends) {
      const slice = run.slice(from, end)
      from = end
      const count = slice.reduce((s, p) => s + p.count, 0)
      parts.push({ cid: await ctx.node(encodeDirParts(slice)), size: sizeOf(slice), count, last: slice[slice.length - 1]!.last })
    }
  }
  return { cid: await ctx.node(encodeDirParts(parts)), size: sizeOf(parts) }
}

/** Strict UTF-8: throws on bytes that are not UTF-8, and keeps a leading BOM (it is part of the name). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** `bytes` as a string, or undefined when they are not UTF-8. */
function utf8OrUndefined (bytes: Uint8Array): string | undefined {
  try { return strictUtf8.decode(bytes) } catch { return undefined }
}

/** A directory entry's name: `name` is undefined when its bytes are not UTF-8 (`shown` then has U+FFFD for them). */
interface RawName { name: string | undefined, shown: string }

/**
 * A directory's entry names in the order they are imported. Read as bytes: a string readdir decodes names lossily,
 * and the decoded name of one that is not UTF-8 names no file (lstat fails with ENOENT).
 */
async function readNames (dir: string): Promise<RawName[]> {
  const out: RawName[] = []
  for (const raw of await readdir(dir, { encoding: 'buffer' })) {
    const name = utf8OrUndefined(raw)
    out.push({ name, shown: name ?? raw.toString('utf8') })
  }
  return out.sort((a, b) => a.shown < b.shown ? -1 : a.shown > b.shown ? 1 : 0) // the order the string readdir sorted into
}

async function importDirectory (ctx: ImportContext, dir: string, mode?: number): Promise<Stored> {
  const entries: DirEntry[] = []
  for (const { name, shown } of await readNames(dir)) {
    ctx.checkAbort()
    const path = join(dir, shown)
    if (name === undefined) { // an entry's name in the DAG is a UTF-8 string: these bytes have none that exports back to them
      ctx.options.onProgress?.({ type: 'import:skip', path, reason: 'name is not valid UTF-8' })
      continue
    }
    const bad = checkEntryName(name)
    if (bad !== undefined) {
      ctx.options.onProgress?.({ type: 'import:skip', path, reason: bad })
      continue
    }
    const st = await lstat(path)
    const mode = st.mode & 0o7777
    if (st.isSymbolicLink()) {
      const target = utf8OrUndefined(await readlink(path, { encoding: 'buffer' })) // a string readlink would store a lossy target
      if (target === undefined) ctx.options.onProgress?.({ type: 'import:skip', path, reason: 'symlink target is not valid UTF-8' })
      else entries.push({ name, kind: 'symlink', target, size: 0, mode })
    } else if (st.isDirectory()) {
      const sub = await importDirectory(ctx, path, mode)
      entries.push({ name, kind: 'dir', cid: sub.cid, size: sub.size, tsize: sub.tsize, mode })
    } else if (st.isFile()) {
      ctx.options.onProgress?.({ type: 'import:file', path })
      const file = await importFileContent(ctx, readFile(path), st.size, true, mode)
      entries.push({ name, kind: 'file', cid: file.cid, size: file.size, tsize: file.tsize, mode })
    } else {
      ctx.options.onProgress?.({ type: 'import:skip', path, reason: 'not a regular file, directory or symlink' })
    }
  }
  return await buildDirectory(ctx, entries, mode)
}

async function totalSize (path: string): Promise<number> {
  const st = await lstat(path)
  if (st.isFile()) return st.size
  if (!st.isDirectory()) return 0
  let sum = 0
  for (const { name } of await readNames(path)) if (name !== undefined) sum += await totalSize(join(path, name)) // importDirectory skips the others
  return sum
}

async function runImport (
  store: ImportStore,
  options: ImportOptions,
  body: (ctx: ImportContext) => Promise<Stored>
): Promise<ImportResult> {
  const hasher = await getHasher(options.hash ?? 'blake3')
  const session = store.openSession()
  try {
    const writer = new BlockWriter(store, session)
    const ctx = new ImportContext(hasher, options, writer)
    const root = await body(ctx)
    await writer.done()
    dropSpareReadBuffers() // every read buffer has come back by now: none is needed while the root is pinned
    // the root is recorded complete only now, after every block is committed
    if (options.pin ?? true) await store.pin(root.cid, options.pinOwner)
    else await store.markComplete(root.cid)
    const result: ImportResult = { cid: root.cid, size: root.size, blocks: writer.blocks, newBlocks: writer.newBlocks, newBytes: writer.newBytes }
    if (ctx.archive !== undefined) result.archive = ctx.archive
    return result
  } finally {
    session.end()
    dropSpareReadBuffers() // also after a failed import
  }
}

/** Import a file or a directory tree (symlinks inside are recorded, not followed; a symlink given as `path` is followed). */
export async function importPath (store: ImportStore, path: string, options: ImportOptions = {}): Promise<ImportResult> {
  let st
  try {
    st = await stat(path)
  } catch (err) {
    throw new PathNotFoundError(path, { cause: err })
  }
  if (!st.isFile() && !st.isDirectory()) throw new UnsupportedFileTypeError(path)
  return await runImport(store, options, async ctx => {
    ctx.totalBytes = st.isFile() ? st.size : await totalSize(path)
    options.onProgress?.({ type: 'import:start', totalBytes: ctx.totalBytes })
    return st.isFile() ? await importFile(ctx, path, st.size) : await importDirectory(ctx, path)
  })
}

/** Import a stream of bytes as one file. Input buffers are copied, so the source may reuse them. */
export async function importStream (
  store: ImportStore,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ImportOptions & { totalBytes?: number } = {}
): Promise<ImportResult> {
  // totalBytes is for progress only: a stream's length is learnt from its bytes, so a wrong hint cannot change its CID
  return await importOneFile(store, copying(source), options.totalBytes, options)
}

/** Import bytes held in memory as one file (not copied: the import has committed before it returns). */
export async function importBytes (store: ImportStore, bytes: Uint8Array, options: ImportOptions = {}): Promise<ImportResult> {
  return await importOneFile(store, [bytes], bytes.length, options, bytes.length)
}

/** `length`: the content's exact length (bytes in memory), or undefined for a stream (totalBytes: a progress hint). */
async function importOneFile (
  store: ImportStore,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  totalBytes: number | undefined,
  options: ImportOptions,
  length?: number
): Promise<ImportResult> {
  return await runImport(store, options, async ctx => {
    ctx.totalBytes = totalBytes ?? 0
    options.onProgress?.({ type: 'import:start', totalBytes: ctx.totalBytes })
    return await importFileContent(ctx, source, length)
  })
}

async function * copying (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const buf of source) yield Uint8Array.from(buf)
}
