import { constants as fsc } from 'node:fs'
import { chmod, lstat, mkdir, open, realpath, rmdir, symlink, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { CID } from 'multiformats/cid'
import { AbortError, ExportConflictError, InvalidOptionError, NotInDagError, UnsafePathError } from '../errors.js'
import type { Blockstore } from '../store/interface.js'
import { rebuildArchive } from './archive/index.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW } from './constants.js'
import { checkEntryName, decodeNode, type DagNode, type DirEntry } from './nodes.js'
import { getVerified } from './verify.js'

/** UnixFS reading, loaded on the first DAG-PB block: a command on cmesh's own format never loads its codecs. */
async function unixfs (): Promise<typeof import('./unixfs/index.js')> {
  return await import('./unixfs/index.js')
}

/** What reading needs of a store. */
export type ReadStore = Pick<Blockstore, 'getSync'>

export type ExportProgressEvent =
  | { type: 'export:start', totalBytes: number }
  | { type: 'export:bytes', bytes: number, totalBytes: number }
  | { type: 'export:file', path: string }

export interface CatOptions {
  /** First byte to read. @default 0 */
  offset?: number
  /** Bytes to read. @default to the end */
  length?: number
  signal?: AbortSignal
}

export interface ExportOptions {
  /** Replace files and symlinks that already exist at the target (never directories). @default false */
  overwrite?: boolean
  signal?: AbortSignal
  onProgress?: (event: ExportProgressEvent) => void
}

export interface StatResult {
  cid: CID
  kind: 'file' | 'dir'
  /** Content bytes (for a directory, the sum of its files). */
  size: number
  /** Entries of a directory. */
  entries?: number
}

function aborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw new AbortError()
}

/** Read and decode a verified DAG-CBOR node. */
async function readNode (store: ReadStore, cid: CID): Promise<DagNode> {
  return decodeNode(cid, await getVerified(store, cid))
}

/** Kind and size of the DAG under `cid`, reading only its root block. */
export async function stat (store: ReadStore, cid: CID): Promise<StatResult> {
  if (cid.code === CODEC_RAW) return { cid, kind: 'file', size: (await getVerified(store, cid)).length }
  if (cid.code === CODEC_DAG_PB) return { cid, ...await (await unixfs()).unixfsStat(store, cid) }
  if (cid.code !== CODEC_DAG_CBOR) throw new NotInDagError(`${cid} is not a cmesh or UnixFS file or directory (codec 0x${cid.code.toString(16)})`)
  const node = await readNode(store, cid)
  if (node.type !== 'dir') return { cid, kind: 'file', size: node.size } // an archive is a file too
  return { cid, kind: 'dir', size: node.size, entries: node.count ?? node.entries?.length ?? 0 }
}

/**
 * Stream a file's bytes, verifying every block against its CID as it is read (ERR_BLOCK_CORRUPT names the
 * block). A range reads only the blocks it overlaps: link sizes locate it from the root down.
 */
export async function * cat (store: ReadStore, cid: CID, options: CatOptions = {}): AsyncGenerator<Uint8Array> {
  const offset = options.offset ?? 0
  if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOptionError(`offset must be a non-negative integer, got ${offset}`)
  const length = options.length ?? Number.POSITIVE_INFINITY
  if (length !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(length) || length < 0)) throw new InvalidOptionError(`length must be a non-negative integer, got ${length}`)
  const end = offset + length
  if (cid.code === CODEC_DAG_CBOR) {
    const node = await readNode(store, cid)
    if (node.type === 'archive') {
      if (length > 0) yield * rebuildArchive(cid, node, (c, from, to) => readRange(store, c, 0, from, to, options.signal), offset, end)
      return
    }
    if (node.type !== 'file') throw new NotInDagError(`${cid} is a directory, not a file`)
  } else if (cid.code === CODEC_DAG_PB) {
    const { unixfsStat, readUnixfsFile } = await unixfs()
    if ((await unixfsStat(store, cid)).kind !== 'file') throw new NotInDagError(`${cid} is a directory, not a file`)
    if (length > 0) yield * readUnixfsFile(store, cid, offset, end, options.signal)
    return
  } else if (cid.code !== CODEC_RAW) {
    throw new NotInDagError(`${cid} is not a cmesh or UnixFS file (codec 0x${cid.code.toString(16)})`)
  }
  if (length === 0) return
  yield * readRange(store, cid, 0, offset, end, options.signal)
}

/** Bytes of the subtree at `cid` (which starts at file position `base`) that fall in [from, to). */
async function * readRange (store: ReadStore, cid: CID, base: number, from: number, to: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  aborted(signal)
  if (cid.code === CODEC_RAW) {
    const bytes = await getVerified(store, cid)
    const start = Math.max(0, from - base)
    const stop = Math.min(bytes.length, to - base)
    if (stop > start) yield start === 0 && stop === bytes.length ? bytes : bytes.subarray(start, stop)
    return
  }
  const node = await readNode(store, cid)
  if (node.type !== 'file') throw new NotInDagError(`${cid} is a directory inside a file`)
  let pos = base
  for (const link of node.links) {
    const next = pos + link.size
    if (next > from && pos < to) yield * readRange(store, link.cid, pos, from, to, signal)
    if (next >= to) return
    pos = next
  }
}

/**
 * The entries of a directory in name order (split directories are read part by part; a HAMT-sharded UnixFS
 * directory in the order of its shards); of an archive, its members.
 */
export async function * ls (store: ReadStore, cid: CID, options: { signal?: AbortSignal } = {}): AsyncGenerator<DirEntry> {
  if (cid.code === CODEC_DAG_PB) {
    yield * (await unixfs()).unixfsEntries(store, cid, options.signal)
    return
  }
  if (cid.code === CODEC_RAW) throw new NotInDagError(`${cid} is a file, not a directory`)
  if (cid.code !== CODEC_DAG_CBOR) throw new NotInDagError(`${cid} is not a cmesh or UnixFS directory (codec 0x${cid.code.toString(16)})`)
  let node = await readNode(store, cid)
  if (node.type === 'archive') node = await readNode(store, node.tree)
  if (node.type !== 'dir') throw new NotInDagError(`${cid} is a file, not a directory`)
  yield * dirEntries(store, node, options.signal)
}

async function * dirEntries (store: ReadStore, node: DagNode, signal?: AbortSignal): AsyncGenerator<DirEntry> {
  aborted(signal)
  if (node.type !== 'dir') throw new NotInDagError('a directory part is not a directory node')
  if (node.entries !== undefined) {
    yield * node.entries
    return
  }
  for (const part of node.parts ?? []) yield * dirEntries(store, await readNode(store, part.cid), signal)
}

/** Follow `a/b/c` from a directory root; returns the CID and kind at that path. */
export async function resolvePath (store: ReadStore, root: CID, path: string): Promise<{ cid: CID, kind: 'file' | 'dir' | 'symlink', entry?: DirEntry }> {
  let cid = root
  let kind: 'file' | 'dir' | 'symlink' = (await stat(store, root)).kind
  let entry: DirEntry | undefined
  for (const name of path.split('/').filter(p => p !== '')) {
    if (kind === 'file' && cid.code === CODEC_DAG_CBOR) {
      const node = await readNode(store, cid)
      if (node.type === 'archive') { cid = node.tree; kind = 'dir' } // an archive's members are looked up in its tree
    }
    if (kind !== 'dir') throw new NotInDagError(`cannot look up ${JSON.stringify(name)}: not inside a directory`)
    entry = undefined
    if (cid.code === CODEC_DAG_PB) {
      entry = await (await unixfs()).unixfsLookup(store, cid, name) // reads only the shards on the name's path in a HAMT
    } else {
      for await (const e of ls(store, cid)) {
        if (e.name === name) { entry = e; break }
      }
    }
    if (entry === undefined) throw new NotInDagError(`no entry ${JSON.stringify(name)} in ${cid}`)
    kind = entry.kind
    if (entry.kind === 'symlink') {
      if (name !== path.split('/').filter(p => p !== '').pop()) throw new NotInDagError(`${name} is a symlink; symlinks are not followed`)
      return { cid, kind, entry }
    }
    cid = entry.cid!
  }
  return { cid, kind, entry }
}

/** Open a new file for writing without following a symlink at `path` and without replacing anything. */
async function createFile (path: string, mode: number, overwrite: boolean): Promise<import('node:fs/promises').FileHandle> {
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW
  try {
    return await open(path, flags, mode & 0o777)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const st = await lstat(path)
    if (!overwrite || st.isDirectory()) throw new ExportConflictError(path, st.isDirectory() ? 'a directory is in the way' : 'it already exists', !st.isDirectory())
    await unlink(path) // removes a planted symlink itself, never what it points to
    return await open(path, flags, mode & 0o777)
  }
}

/** Make a directory, accepting an existing real directory but never a symlink to one; true if it made one. */
async function makeDir (path: string): Promise<boolean> {
  try {
    await mkdir(path, { mode: 0o700 })
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const st = await lstat(path)
    if (st.isSymbolicLink()) throw new ExportConflictError(path, 'a symlink is in the way; refusing to write through it')
    if (!st.isDirectory()) throw new ExportConflictError(path, 'a file is in the way')
    return false
  }
}

class Exporter {
  bytes = 0
  /** What this export created, in order: removed again, last first, if the export fails part way. */
  readonly created: Array<{ path: string, dir: boolean }> = []
  constructor (readonly store: ReadStore, readonly options: ExportOptions, readonly totalBytes: number) {}

  async file (cid: CID, path: string, mode: number): Promise<void> {
    this.options.onProgress?.({ type: 'export:file', path })
    const fh = await createFile(path, mode, this.options.overwrite ?? false)
    this.created.push({ path, dir: false })
    try {
      for await (const bytes of cat(this.store, cid, { signal: this.options.signal })) {
        await fh.write(bytes)
        this.bytes += bytes.length
        this.options.onProgress?.({ type: 'export:bytes', bytes: this.bytes, totalBytes: this.totalBytes })
      }
      await fh.chmod(mode & 0o777) // never setuid, setgid or sticky from a DAG: its author is not trusted
    } finally {
      await fh.close()
    }
  }

  async dir (cid: CID, path: string, mode: number): Promise<void> {
    if (await makeDir(path)) this.created.push({ path, dir: true })
    for await (const e of ls(this.store, cid, { signal: this.options.signal })) {
      // names were checked when the node was decoded; check again here because this is where a bad one would do harm
      const bad = checkEntryName(e.name)
      if (bad !== undefined) throw new UnsafePathError(e.name, bad)
      const child = join(path, e.name)
      if (dirname(child) !== path || basename(child) !== e.name) throw new UnsafePathError(e.name, 'does not stay inside its directory')
      if (e.kind === 'dir') await this.dir(e.cid!, child, e.mode)
      else if (e.kind === 'file') await this.file(e.cid!, child, e.mode)
      else await this.link(e.target!, child)
    }
    await chmod(path, mode & 0o777)
  }

  async link (target: string, path: string): Promise<void> {
    try {
      await symlink(target, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const st = await lstat(path)
      if (!(this.options.overwrite ?? false) || st.isDirectory()) throw new ExportConflictError(path, 'it already exists', !st.isDirectory())
      await unlink(path)
      await symlink(target, path)
    }
    this.created.push({ path, dir: false })
  }

  /** Remove what this export created (never what was there before it), deepest first. */
  async undo (): Promise<void> {
    for (const { path, dir } of this.created.reverse()) {
      await (dir ? rmdir(path) : unlink(path)).catch(() => {})
    }
  }
}

/**
 * Write the file or directory at `cid` to `target`, verifying every block. Directory entries are created
 * with O_EXCL|O_NOFOLLOW (files) and lstat checks (directories), so nothing is written outside `target`,
 * even through a symlink planted inside it. Symlinks in the DAG are created as symlinks, never followed.
 */
export async function exportTo (store: ReadStore, cid: CID, target: string, options: ExportOptions = {}): Promise<StatResult> {
  const info = await stat(store, cid)
  const parent = await realpath(dirname(resolve(target)))
  const path = join(parent, basename(resolve(target)))
  options.onProgress?.({ type: 'export:start', totalBytes: info.size })
  const exporter = new Exporter(store, options, info.size)
  try {
    if (info.kind === 'file') await exporter.file(cid, path, 0o644)
    else await exporter.dir(cid, path, 0o755)
  } catch (err) {
    // a conflict, a bad name or a missing block part way: no partial tree is left behind
    await exporter.undo()
    throw err
  }
  return info
}
