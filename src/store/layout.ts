/**
 * How the store lays blocks out in LMDB (format 2): block bytes in `data` under sequence numbers appended in
 * write order, and in `index` each CID's location. Also the migration from format 1 and a packed key list.
 */
import type { Database, RootDatabase } from 'lmdb'
import { GC_BATCH, STORE_FORMAT } from './constants.js'

/** A list of keys (CID bytes, at most 64 KiB each) in one growing buffer, each after its 2-byte length. */
export class PackedKeys {
  private buf = Buffer.allocUnsafe(64 * 1024)
  private end = 0

  push (key: Uint8Array): void {
    while (this.end + 2 + key.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2)
      this.buf.copy(bigger, 0, 0, this.end)
      this.buf = bigger
    }
    this.buf.writeUInt16BE(key.length, this.end)
    this.buf.set(key, this.end + 2)
    this.end += 2 + key.length
  }

  * [Symbol.iterator] (): Generator<Uint8Array> {
    for (let p = 0; p < this.end;) {
      const n = this.buf.readUInt16BE(p)
      yield this.buf.subarray(p + 2, p + 2 + n)
      p += 2 + n
    }
  }
}

/** Bytes of a sequence number (the key of a block's bytes in `data`). */
export const SEQ_BYTES = 8

/** An index entry: the sequence number (big-endian, so keys sort in write order) and the block's length. */
export function location (seq: number, size: number): Buffer {
  const loc = Buffer.alloc(SEQ_BYTES + 4)
  loc.writeUIntBE(seq, 2, 6)
  loc.writeUInt32BE(size, SEQ_BYTES)
  return loc
}

/** The block length recorded in an index entry. */
export function locationSize (loc: Uint8Array): number {
  return Buffer.from(loc.buffer, loc.byteOffset, loc.byteLength).readUInt32BE(SEQ_BYTES)
}

/**
 * The next free sequence number: one past the last key of `data`, read in the write transaction (so two
 * processes writing the same store never collide). Numbers of deleted blocks at the end may be used again.
 */
export function nextSeq (data: Database<Uint8Array, Uint8Array>): number {
  for (const key of data.getKeys({ reverse: true, limit: 1 })) {
    return Buffer.from(key as Uint8Array).readUIntBE(2, 6) + 1
  }
  return 0
}

/**
 * Rewrite a format 1 store (blocks keyed by CID, lengths in `sizes`) into this layout, in batches of
 * transactions; refs, pins and roots are keyed by CID in both formats and stay as they are. A crash part way
 * leaves format 1 recorded and every block in one layout or the other: the next open carries on.
 */
export function migrateFormat1 (
  env: RootDatabase,
  data: Database<Uint8Array,
  Uint8Array>,
  index: Database<Uint8Array,
  Uint8Array>,
  meta: Database<unknown,
  string>
): void {
  const old = env.openDB<Uint8Array, Uint8Array>({ name: 'blocks', keyEncoding: 'binary', encoding: 'binary' })
  const sizes = env.openDB<number, Uint8Array>({ name: 'sizes', keyEncoding: 'binary' })
  for (;;) {
    const moved = env.transactionSync(() => {
      let seq = nextSeq(data)
      let n = 0
      for (const { key, value } of old.getRange({ limit: GC_BATCH })) {
        const k = Uint8Array.from(key as Uint8Array)
        const loc = location(seq++, value.length)
        index.put(k, loc)
        data.putSync(loc.subarray(0, SEQ_BYTES), Uint8Array.from(value), { append: true })
        old.remove(k)
        sizes.remove(k)
        n++
      }
      if (n === 0) meta.put('format', STORE_FORMAT)
      return n
    })
    if (moved === 0) return
  }
}
