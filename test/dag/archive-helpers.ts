import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import zlib from 'node:zlib'
import { Deflate } from 'pako'

/** Text that compresses like source code: words from a small vocabulary, seeded. */
export function sourceText (bytes: number, seed: number): string {
  const words = ['const', 'return', 'function', 'import', 'export', 'value', 'error', 'stream', 'block', 'archive', '=>', '{', '}', '(', ')', 'await']
  let x = seed
  let out = ''
  while (out.length < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    out += words[x % words.length]! + (x % 3 === 0 ? ` v${(x >> 8).toString(36)}` : '') + (x % 7 === 0 ? '\n' : ' ')
  }
  return out.slice(0, bytes)
}

/** A small package tree under `root/pkg`: `files` maps relative paths to contents. */
export function writeTree (root: string, files: Record<string, string | Uint8Array>): string {
  for (const [path, content] of Object.entries(files)) {
    const p = join(root, 'pkg', path)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, content)
  }
  return join(root, 'pkg')
}

/** A deterministic tar of `root/pkg` (system tar), its members named pkg/... */
export function tarOf (root: string): Buffer {
  return execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', root, '-cf', '-', 'pkg'], { maxBuffer: 1 << 28 })
}

export function gzipFile (path: string, tar: Uint8Array, options: zlib.ZlibOptions = {}): string {
  writeFileSync(path, zlib.gzipSync(tar, options))
  return path
}

/** A package's files; `change` is put at the start of the first member (README.md), before the rest of the stream. */
export function packageFiles (seed: number, change = ''): Record<string, string | Uint8Array> {
  return {
    'package.json': `{ "name": "pkg", "version": "1.0.${seed}" }\n`,
    'lib/index.js': sourceText(60_000, 7),
    'lib/util.js': sourceText(30_000, 8),
    'data/blob.bin': Buffer.from(sourceText(150_000, 9)),
    'README.md': change + sourceText(3_000, 10)
  }
}

export function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A zip of `files` (deflated members, a fixed DOS time), written by hand: the format's own layout, no tool needed. */
export function zipOf (files: Record<string, string | Uint8Array>): Buffer {
  const locals: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content)
    const packed = zlib.deflateRawSync(data, { level: 6 })
    const fname = Buffer.from(name)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(8, 8) // deflate
    local.writeUInt16LE(0x21, 12) // 1980-01-01
    local.writeUInt32LE(zlib.crc32(data), 14)
    local.writeUInt32LE(packed.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(fname.length, 26)
    const entry = Buffer.alloc(46)
    entry.writeUInt32LE(0x02014b50, 0)
    entry.writeUInt16LE(20, 4)
    entry.writeUInt16LE(20, 6)
    local.copy(entry, 8, 6, 30) // flags, method, time, date, crc, sizes, name length, extra length
    entry.writeUInt32LE(offset, 42)
    locals.push(local, fname, packed)
    central.push(entry, fname)
    offset += 30 + fname.length + packed.length
  }
  const dir = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(Object.keys(files).length, 8)
  end.writeUInt16LE(Object.keys(files).length, 10)
  end.writeUInt32LE(dir.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, dir, end])
}

/**
 * A gzip of `tar` by Node's zlib at level 9 with a sync flush `fromEnd` bytes before its end: zlib rebuilds it up
 * to the block the flush ends, not after (a delta). Header XFL 2, OS 3.
 */
export async function syncFlushedGzip (tar: Uint8Array, fromEnd: number): Promise<Buffer> {
  const cut = tar.length - fromEnd
  const deflate = zlib.createDeflateRaw({ level: 9 })
  const parts: Buffer[] = []
  deflate.on('data', (b: Buffer) => parts.push(b))
  deflate.write(tar.subarray(0, cut))
  await new Promise<void>(resolve => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()))
  deflate.end(tar.subarray(cut))
  await new Promise(resolve => deflate.on('end', resolve))
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(zlib.crc32(tar), 0)
  trailer.writeUInt32LE(tar.length, 4)
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]), ...parts, trailer])
}

/** A gzip member around raw deflate output of `data` (header with XFL and OS as given, CRC and length after). */
export function gzipAround (deflated: Uint8Array[], data: Uint8Array, xfl: number, os: number): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, os])
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(zlib.crc32(data), 0)
  trailer.writeUInt32LE(data.length, 4)
  return Buffer.concat([header, ...deflated, trailer])
}

/** What canonical zlib (zlib's own hash) writes: pako with legacyHash. */
export function canonicalDeflate (data: Uint8Array, level: number): Uint8Array {
  const d = new Deflate({ raw: true, level: level as 9, legacyHash: true })
  d.push(data, true)
  return d.result
}
