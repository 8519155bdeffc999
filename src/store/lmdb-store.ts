import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import { CID } from 'multiformats/cid'
import * as dagCbor from '@ipld/dag-cbor'
import { BlockNotFoundError, BlockPinnedError, BlockTooLargeError, InvalidOptionError, RepoError, StoreClosedError, StoreFullError } from '../errors.js'
import { CODEC_DAG_CBOR, CODEC_RAW, GC_BATCH, MAX_BLOCK_SIZE, STORE_FORMAT } from './constants.js'
import { identityBytes } from './identity.js'
import { bytesKey, codecLinks } from './links.js'
import { location, locationSize, migrateFormat1, nextSeq, PackedKeys, SEQ_BYTES } from './layout.js'
import {
  USER_PIN,
  type Block,
  type Blockstore,
  type GcResult,
  type PinRecord,
  type PutResult,
  type RootInfo,
  type StoreSession,
  type StoreStat
} from './interface.js'
import { repoPath } from '../repo/index.js'

interface Usage { blocks: number, bytes: number }

const keyString = bytesKey

/** A pin owner: a short name (`user`, `cache`, `collections`, `release:<name>`, ...). */
function checkOwner (owner: string): void {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > 256) throw new InvalidOptionError(`a pin owner is a name of 1 to 256 characters, got ${JSON.stringify(owner)}`)
}

class NeedRoomError extends Error {
  constructor (readonly needed: number, readonly used: number) { super('need room') }
}

/**
 * The block store on one LMDB environment:
 *   data    sequence number (8 bytes, big-endian) -> block bytes, appended in write order
 *   index   CID bytes -> location (sequence number and block length, 12 bytes): presence, accounting and the
 *           way to a block's bytes, without touching them
 *   refs    CID bytes -> number of pinned roots whose DAG holds the block (absent = unreferenced, GC-able)
 *   pins    root CID bytes -> { at: pin time, owners: who pins it } (a bare pin time, from before owners: 'user')
 *   roots   root CID bytes -> RootInfo, written only once every block of the DAG is committed
 *   meta    'format', 'usage' ({ blocks, bytes }) kept in the same transactions as the blocks
 */
export class LmdbBlockstore implements Blockstore {
  readonly repo: string
  readonly capacity: number
  private readonly env: RootDatabase
  private readonly data: Database<Uint8Array, Uint8Array>
  private readonly index: Database<Uint8Array, Uint8Array>
  private readonly refs: Database<number, Uint8Array>
  private readonly pinsDb: Database<PinRecord | number, Uint8Array>
  private readonly rootsDb: Database<{ size: number, blocks: number, created: number }, Uint8Array>
  private readonly meta: Database<unknown, string>
  /** Blocks written by imports still running in this process: capacity GC must not take them. */
  private readonly protectedKeys = new Map<string, number>()
  private closed = false

  constructor (repo: string, capacity: number, mapping: 'chunks' | 'whole' = 'chunks') {
    this.repo = repo
    this.capacity = capacity
    try {
      mkdirSync(repo, { recursive: true })
      if (!statSync(repo).isDirectory()) throw new Error('not a directory')
      checkLmdbFile(repoPath(repo, 'store'))
      // noMetaSync: one flush per commit instead of two (about 10 % faster ingest); LMDB keeps the database
      // consistent, and a power cut can at worst undo the last commit (blocks are refetched, roots re-marked).
      // remapChunks maps the file in chunks (StoreOptions.mapping); left out (absent: a key given overrides lmdb's
      // default even when undefined), lmdb maps the whole file on 64-bit systems and in chunks on 32-bit ones
      this.env = open({ path: repoPath(repo, 'store'), maxDbs: 8, noMetaSync: true, compression: false, ...(mapping === 'chunks' ? { remapChunks: true } : {}) })
      this.data = this.env.openDB({ name: 'data', keyEncoding: 'binary', encoding: 'binary' })
      this.index = this.env.openDB({ name: 'index', keyEncoding: 'binary', encoding: 'binary' })
      this.refs = this.env.openDB({ name: 'refs', keyEncoding: 'binary' })
      this.pinsDb = this.env.openDB({ name: 'pins', keyEncoding: 'binary' })
      this.rootsDb = this.env.openDB({ name: 'roots', keyEncoding: 'binary' })
      this.meta = this.env.openDB({ name: 'meta' })
    } catch (err) {
      throw new RepoError(`cannot open repository ${repo}: ${(err as Error).message}`, { cause: err })
    }
    const format = this.meta.get('format')
    if (format === undefined) {
      this.meta.putSync('format', STORE_FORMAT)
    } else if (format === 1) {
      migrateFormat1(this.env, this.data, this.index, this.meta)
    } else if (format !== STORE_FORMAT) {
      this.env.close()
      throw new RepoError(`repository ${repo} has store format ${String(format)}; this cmesh reads format ${STORE_FORMAT}`)
    }
  }

  private check (): void {
    if (this.closed) throw new StoreClosedError()
  }

  private usage (): Usage {
    return (this.meta.get('usage') as Usage | undefined) ?? { blocks: 0, bytes: 0 }
  }

  async get (cid: CID): Promise<Uint8Array> {
    return this.getSync(cid)
  }

  /** Synchronous read; LMDB reads are memory-mapped and cheap. */
  getSync (cid: CID): Uint8Array {
    this.check()
    const bytes = identityBytes(cid) ?? this.read(cid.bytes)
    if (bytes === undefined) throw new BlockNotFoundError(cid.toString())
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  sizeOf (cid: CID): number | undefined {
    this.check()
    const inline = identityBytes(cid)
    if (inline !== undefined) return inline.length
    const loc = this.index.getBinaryFast(cid.bytes)
    return loc === undefined ? undefined : locationSize(loc)
  }

  copyInto (cid: CID, out: Uint8Array, at: number): number {
    this.check()
    const inline = identityBytes(cid)
    if (inline !== undefined) {
      if (at < 0 || at + inline.length > out.length) throw new RangeError(`a block of ${inline.length} bytes does not fit at ${at} of ${out.length}`)
      out.set(inline, at)
      return inline.length
    }
    const loc = this.index.getBinaryFast(cid.bytes)
    if (loc === undefined) throw new BlockNotFoundError(cid.toString())
    const size = locationSize(loc)
    if (at < 0 || at + size > out.length) throw new RangeError(`a block of ${size} bytes does not fit at ${at} of ${out.length}`)
    // the sequence number is copied out: the next fast read reuses the buffer `loc` is a view of. A fast read
    // may also return lmdb's shared buffer, longer than the value: the index's size says where the block ends
    const view = this.data.getBinaryFast(loc.slice(0, SEQ_BYTES))
    if (view === undefined || view.length < size) throw new BlockNotFoundError(cid.toString())
    out.set(view.subarray(0, size), at)
    return size
  }

  /** A block's bytes (a copy, never a view of the map), by way of its location in the index. */
  private read (key: Uint8Array): Uint8Array | undefined {
    const loc = this.index.getBinary(key)
    return loc === undefined ? undefined : this.data.getBinary(loc.subarray(0, SEQ_BYTES))
  }

  async has (cid: CID): Promise<boolean> {
    this.check()
    return identityBytes(cid) !== undefined || this.index.doesExist(cid.bytes)
  }

  async put (cid: CID, bytes: Uint8Array): Promise<PutResult> {
    return await this.putMany([{ cid, bytes }])
  }

  async putMany (blocks: Block[], session?: StoreSession): Promise<PutResult> {
    this.check()
    for (const b of blocks) {
      if (b.bytes.length > MAX_BLOCK_SIZE) throw new BlockTooLargeError(b.bytes.length, MAX_BLOCK_SIZE)
    }
    // an identity CID's block is its CID: never written (its bytes were checked against it by whoever verified it)
    if (blocks.some(b => identityBytes(b.cid) !== undefined)) blocks = blocks.filter(b => identityBytes(b.cid) === undefined)
    if (session !== undefined) (session as Session).protect(blocks)
    try {
      return await this.tryPut(blocks)
    } catch (err) {
      if (!(err instanceof NeedRoomError)) throw err
      await this.gc()
      try {
        return await this.tryPut(blocks)
      } catch (err2) {
        if (err2 instanceof NeedRoomError) throw new StoreFullError(err2.needed, this.capacity, err2.used)
        throw err2
      }
    }
  }

  private async tryPut (blocks: Block[]): Promise<PutResult> {
    // all checks before the first write: lmdb's async transactions commit whatever was written before a throw
    return await this.env.transaction(() => {
      const fresh: Block[] = []
      const seen = new Set<string>()
      let newBytes = 0
      for (const b of blocks) {
        if (this.index.doesExist(b.cid.bytes)) continue
        const k = keyString(b.cid.bytes)
        if (seen.has(k)) continue
        seen.add(k)
        fresh.push(b)
        newBytes += b.bytes.length
      }
      if (fresh.length === 0) return { newBlocks: 0, newBytes: 0 }
      const usage = this.usage()
      if (usage.bytes + newBytes > this.capacity) throw new NeedRoomError(newBytes, usage.bytes)
      // index entries first, then the bytes appended under new sequence numbers: the index's pages are
      // allocated together instead of among the bytes' pages, so the few pages the next inserts read (and
      // LMDB maps in 64 KiB chunks) are not surrounded by block bytes that would be mapped with them
      let seq = nextSeq(this.data)
      const locs = fresh.map(b => location(seq++, b.bytes.length))
      for (let i = 0; i < fresh.length; i++) this.index.put(fresh[i]!.cid.bytes, locs[i]!)
      for (let i = 0; i < fresh.length; i++) this.data.putSync(locs[i]!.subarray(0, SEQ_BYTES), fresh[i]!.bytes, { append: true })
      this.meta.put('usage', { blocks: usage.blocks + fresh.length, bytes: usage.bytes + newBytes })
      return { newBlocks: fresh.length, newBytes }
    })
  }

  async delete (cid: CID): Promise<boolean> {
    this.check()
    return await this.env.transaction(() => {
      if (this.refs.doesExist(cid.bytes)) throw new BlockPinnedError(cid.toString())
      const size = this.removeBlock(cid.bytes)
      if (size === undefined) return false
      const usage = this.usage()
      this.meta.put('usage', { blocks: usage.blocks - 1, bytes: usage.bytes - size })
      this.dropIncompleteUnpinnedRoots()
      return true
    })
  }

  /**
   * Walk the DAG under `root` once per unique block, calling `visit` with each block's key;
   * throws BlockNotFoundError for a missing block when `requireAll`.
   */
  private walk (root: CID, requireAll: boolean, visit: (key: Uint8Array) => void): { blocks: number, missing: CID[] } {
    const seen = new Set<string>()
    const stack: CID[] = [root]
    const missing: CID[] = []
    let blocks = 0
    while (stack.length > 0) {
      const cid = stack.pop()!
      const k = keyString(cid.bytes)
      if (seen.has(k)) continue
      seen.add(k)
      const inline = identityBytes(cid)
      if (inline !== undefined) { // held by every store, in no index: neither counted nor referenced, but its links are
        for (const link of codecLinks(cid, inline)) stack.push(link)
        continue
      }
      // raw leaves have no links: test presence without touching their bytes. Nodes are copied out
      // (getBinary, never getBinaryFast): decoded CIDs are views of the bytes and must outlive the next read
      const bytes = cid.code === CODEC_RAW ? undefined : this.read(cid.bytes)
      if (bytes === undefined && !(cid.code === CODEC_RAW && this.index.doesExist(cid.bytes))) {
        if (requireAll) throw new BlockNotFoundError(cid.toString())
        missing.push(cid)
        continue
      }
      blocks++
      visit(cid.bytes)
      if (bytes !== undefined) for (const link of codecLinks(cid, bytes)) stack.push(link)
    }
    return { blocks, missing }
  }

  /** Content size of a root: a raw leaf's length, or the `size` field of a cmesh node (0 for other blocks). */
  private rootSize (cid: CID): number {
    const bytes = this.read(cid.bytes)
    if (bytes === undefined) return 0
    if (cid.code === CODEC_RAW) return bytes.length
    if (cid.code !== CODEC_DAG_CBOR) return 0
    const value = dagCbor.decode(bytes) as { size?: unknown } | null
    return typeof value?.size === 'number' ? value.size : 0
  }

  async pin (cid: CID, owner: string = USER_PIN): Promise<void> {
    this.check()
    checkOwner(owner)
    await this.env.transaction(() => {
      const held = this.pinRecord(cid.bytes)
      if (held !== undefined) {
        if (!held.owners.includes(owner)) this.pinsDb.put(cid.bytes, { at: held.at, owners: [...held.owners, owner] })
        return
      }
      // read first, write after: lmdb's async transactions do not roll back on a throw, so nothing may throw
      // once the first write is made. The keys are packed into one buffer: a large file has a hundred
      // thousand, and pinning comes at the peak of an import's memory
      const keys = new PackedKeys()
      const { blocks } = this.walk(cid, true, key => { keys.push(key) })
      for (const key of keys) this.refs.put(key, (this.refs.get(key) ?? 0) + 1)
      this.pinsDb.put(cid.bytes, { at: Date.now(), owners: [owner] })
      if (!this.rootsDb.doesExist(cid.bytes)) {
        this.rootsDb.put(cid.bytes, { size: this.rootSize(cid), blocks, created: Date.now() })
      }
    })
  }

  async unpin (cid: CID, owner: string = USER_PIN): Promise<boolean> {
    this.check()
    checkOwner(owner)
    return await this.env.transaction(() => {
      const held = this.pinRecord(cid.bytes)
      if (held === undefined || !held.owners.includes(owner)) return false
      const owners = held.owners.filter(o => o !== owner)
      if (owners.length > 0) {
        // others still pin it: the blocks stay referenced
        this.pinsDb.put(cid.bytes, { at: held.at, owners })
        return true
      }
      this.walk(cid, false, key => {
        const n = (this.refs.get(key) ?? 0) - 1
        if (n > 0) this.refs.put(key, n)
        else this.refs.remove(key)
      })
      this.pinsDb.remove(cid.bytes)
      return true
    })
  }

  isPinned (cid: CID, owner?: string): boolean {
    this.check()
    if (owner === undefined) return this.pinsDb.doesExist(cid.bytes)
    return this.pinRecord(cid.bytes)?.owners.includes(owner) ?? false
  }

  pinOwners (cid: CID): string[] {
    this.check()
    return [...this.pinRecord(cid.bytes)?.owners ?? []]
  }

  async adoptLegacyPin (cid: CID, owner: string): Promise<boolean> {
    this.check()
    checkOwner(owner)
    // called for every pin a subsystem holds at each start: a plain read, and a write transaction only once
    if (typeof this.pinsDb.get(cid.bytes) !== 'number') return false
    return await this.env.transaction(() => {
      const value = this.pinsDb.get(cid.bytes)
      if (typeof value !== 'number') return false
      this.pinsDb.put(cid.bytes, { at: value, owners: [owner] })
      return true
    })
  }

  private pinRecord (key: Uint8Array): PinRecord | undefined {
    const value = this.pinsDb.get(key)
    if (value === undefined) return undefined
    return typeof value === 'number' ? { at: value, owners: [USER_PIN] } : value
  }

  * pins (): Generator<CID> {
    this.check()
    for (const key of this.pinsDb.getKeys()) yield CID.decode(key as Uint8Array)
  }

  async markComplete (cid: CID): Promise<void> {
    this.check()
    await this.env.transaction(() => {
      // walk before writing: a root is recorded complete only when every block is present
      const walked = this.walk(cid, true, () => {})
      this.rootsDb.put(cid.bytes, { size: this.rootSize(cid), blocks: walked.blocks, created: Date.now() })
    })
  }

  isComplete (cid: CID): boolean {
    this.check()
    return this.rootsDb.doesExist(cid.bytes)
  }

  * roots (): Generator<RootInfo> {
    this.check()
    for (const { key, value } of this.rootsDb.getRange()) {
      const cid = CID.decode(key as Uint8Array)
      yield { cid, size: value.size, blocks: value.blocks, created: value.created, pinned: this.pinsDb.doesExist(key) }
    }
  }

  /** Blocks of the DAG under `root` that are not in the store (the DAG is walked as far as it is present). */
  missing (root: CID): CID[] {
    this.check()
    return this.walk(root, false, () => {}).missing
  }

  * entries (): Generator<Block> {
    this.check()
    for (const key of this.index.getKeys()) {
      const k = Uint8Array.from(key as Uint8Array)
      const bytes = this.read(k)
      if (bytes !== undefined) yield { cid: CID.decode(k), bytes }
    }
  }

  openSession (): StoreSession {
    this.check()
    return new Session(this.protectedKeys)
  }

  async gc (): Promise<GcResult> {
    this.check()
    const candidates: Uint8Array[] = []
    for (const key of this.index.getKeys()) {
      const k = key as Uint8Array
      if (!this.refs.doesExist(k) && !this.protectedKeys.has(keyString(k))) candidates.push(Uint8Array.from(k))
    }
    let removedBlocks = 0
    let removedBytes = 0
    for (let i = 0; i < candidates.length || i === 0; i += GC_BATCH) {
      const batch = candidates.slice(i, i + GC_BATCH)
      const last = i + GC_BATCH >= candidates.length
      await this.env.transaction(() => {
        let blocks = 0
        let bytes = 0
        for (const k of batch) {
          if (this.refs.doesExist(k) || this.protectedKeys.has(keyString(k))) continue
          const size = this.removeBlock(k)
          if (size === undefined) continue
          bytes += size
          blocks++
        }
        if (blocks > 0) {
          const usage = this.usage()
          this.meta.put('usage', { blocks: usage.blocks - blocks, bytes: usage.bytes - bytes })
        }
        // a complete root must never lack blocks: the markers go in the same transaction as the blocks
        if (last && removedBlocks + blocks > 0) this.dropIncompleteUnpinnedRoots()
        removedBlocks += blocks
        removedBytes += bytes
      })
    }
    return { removedBlocks, removedBytes }
  }

  /** Remove a block's bytes and index entry (inside a write transaction); its length, or undefined if absent. */
  private removeBlock (key: Uint8Array): number | undefined {
    const loc = this.index.getBinary(key)
    if (loc === undefined) return undefined
    this.data.remove(loc.subarray(0, SEQ_BYTES))
    this.index.remove(key)
    return locationSize(loc)
  }

  private dropIncompleteUnpinnedRoots (): void {
    for (const key of this.rootsDb.getKeys()) {
      const k = key as Uint8Array
      if (this.pinsDb.doesExist(k)) continue
      let complete: boolean
      try {
        complete = this.walk(CID.decode(k), false, () => {}).missing.length === 0
      } catch {
        complete = false
      }
      if (!complete) this.rootsDb.remove(k)
    }
  }

  stat (): StoreStat {
    this.check()
    const usage = this.usage()
    return {
      repo: this.repo,
      blocks: usage.blocks,
      bytes: usage.bytes,
      capacity: this.capacity,
      pinnedRoots: this.pinsDb.getCount(),
      completeRoots: this.rootsDb.getCount()
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.env.close()
  }
}

/** LMDB's meta page magic: 0xBEEFC0DE after the page header (16 bytes upstream, 24 in lmdb-js's build). */
const LMDB_MAGIC = 0xbeefc0de

/** Refuse a store file that is not LMDB before handing it to the native library (which may crash on garbage). */
function checkLmdbFile (path: string): void {
  if (!existsSync(path)) return
  const fd = openSync(path, 'r')
  try {
    const head = Buffer.alloc(28)
    const n = readSync(fd, head, 0, 28, 0)
    if (n === 0) return
    if (n < 28 || (head.readUInt32LE(16) !== LMDB_MAGIC && head.readUInt32LE(24) !== LMDB_MAGIC)) throw new Error(`${path} is not an LMDB file`)
  } finally {
    closeSync(fd)
  }
}

class Session implements StoreSession {
  private readonly keys = new Set<string>()
  constructor (private readonly shared: Map<string, number>) {}

  protect (blocks: Block[]): void {
    for (const b of blocks) {
      const k = keyString(b.cid.bytes)
      if (this.keys.has(k)) continue
      this.keys.add(k)
      this.shared.set(k, (this.shared.get(k) ?? 0) + 1)
    }
  }

  end (): void {
    for (const k of this.keys) {
      const n = (this.shared.get(k) ?? 1) - 1
      if (n > 0) this.shared.set(k, n)
      else this.shared.delete(k)
    }
    this.keys.clear()
  }
}
