import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import zlib from 'node:zlib'

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
