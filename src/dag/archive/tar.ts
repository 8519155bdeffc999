import { ArchiveError } from '../../errors.js'
import { checkEntryName } from '../nodes.js'
import { MAX_PATH_DEPTH, TAR_BLOCK } from './constants.js'

/** One tar header block, decoded as far as the member view needs. */
export interface TarHeader {
  /** ustar name (with its prefix), raw: a pax `path` or GNU long name replaces it. */
  name: Uint8Array
  /** Type flag: '0' (or NUL) file, '1' hard link, '2' symlink, '5' directory, 'x'/'g' pax, 'L'/'K' GNU long names ... */
  type: string
  size: number
  mode: number
  linkname: Uint8Array
}

/** Types whose body is metadata for the next header, not a member's content. */
export const META_TYPES = new Set(['x', 'g', 'L', 'K'])
/** Types that are regular files (their body is the member's content). */
export const FILE_TYPES = new Set(['0', '\0', '7'])
/** Types that have no body, whatever their size field says (GNU and POSIX readers skip none). */
const BODILESS_TYPES = new Set(['1', '2', '3', '4', '5', '6'])

const ascii = new TextDecoder('latin1')
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function invalid (reason: string): never {
  throw new ArchiveError('ERR_ARCHIVE_INVALID', `tar: ${reason}`)
}

/** A NUL-terminated field. */
function field (block: Uint8Array, start: number, length: number): Uint8Array {
  const f = block.subarray(start, start + length)
  const nul = f.indexOf(0)
  return nul === -1 ? f : f.subarray(0, nul)
}

/** An octal number field, or GNU base-256 (high bit set on the first byte). */
function number (block: Uint8Array, start: number, length: number, what: string): number {
  const f = block.subarray(start, start + length)
  if ((f[0]! & 0x80) !== 0) {
    if ((f[0]! & 0x40) !== 0) invalid(`negative ${what}`)
    let v = f[0]! & 0x3f
    for (let i = 1; i < f.length; i++) {
      v = v * 256 + f[i]!
      if (v > Number.MAX_SAFE_INTEGER) invalid(`${what} too large`)
    }
    return v
  }
  const text = ascii.decode(field(block, start, length)).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) invalid(`${what} is not octal: ${JSON.stringify(text)}`)
  const v = parseInt(text, 8)
  if (!Number.isSafeInteger(v)) invalid(`${what} too large`)
  return v
}

export function isZeroBlock (block: Uint8Array): boolean {
  for (const b of block) if (b !== 0) return false
  return true
}

/** Decode a header block, checking its checksum (unsigned or, as some old tars wrote it, signed). */
export function parseTarHeader (block: Uint8Array): TarHeader {
  if (block.length !== TAR_BLOCK) invalid('truncated header')
  const stored = number(block, 148, 8, 'checksum')
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < TAR_BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!
    unsigned += b
    signed += b > 127 ? b - 256 : b
  }
  if (stored !== unsigned && stored !== signed) invalid('header checksum does not match')
  const type = String.fromCharCode(block[156]!)
  let name = field(block, 0, 100)
  const magic = ascii.decode(block.subarray(257, 263))
  if (magic === 'ustar\0') {
    const prefix = field(block, 345, 155)
    if (prefix.length > 0) name = Buffer.concat([prefix, Buffer.from('/'), name])
  }
  const size = number(block, 124, 12, 'size')
  if (BODILESS_TYPES.has(type) && size !== 0) invalid(`a type ${type} member declares ${size} bytes of content`)
  return { name, type, size, mode: number(block, 100, 8, 'mode') & 0o7777, linkname: field(block, 157, 100) }
}

/** Bytes of padding after a body of `size` bytes. */
export function padding (size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK
}

/** The `path` and `linkpath` of a pax extended header body ("LEN key=value\n" records). */
export function parsePax (body: Uint8Array): { path?: Uint8Array, linkpath?: Uint8Array } {
  const out: { path?: Uint8Array, linkpath?: Uint8Array } = {}
  let pos = 0
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos)
    if (space === -1) break
    const len = parseInt(ascii.decode(body.subarray(pos, space)), 10)
    if (!Number.isSafeInteger(len) || len <= space - pos || pos + len > body.length) invalid('bad pax record')
    const record = body.subarray(space + 1, pos + len - 1) // without the trailing newline
    const eq = record.indexOf(0x3d)
    if (eq !== -1) {
      const key = ascii.decode(record.subarray(0, eq))
      if (key === 'path') out.path = record.subarray(eq + 1)
      if (key === 'linkpath') out.linkpath = record.subarray(eq + 1)
    }
    pos += len
  }
  return out
}

/** A GNU long name body: the name up to its NUL. */
export function longName (body: Uint8Array): Uint8Array {
  const nul = body.indexOf(0)
  return nul === -1 ? body : body.subarray(0, nul)
}

/**
 * A member name as path components inside the archive's tree, or undefined when it cannot be one: not UTF-8,
 * absolute, deeper than MAX_PATH_DEPTH, or with a `..` or an otherwise unsafe component (such members are left out of the tree;
 * the archive's bytes keep them).
 */
export function memberPath (raw: Uint8Array): string[] | undefined {
  let name: string
  try { name = strictUtf8.decode(raw) } catch { return undefined }
  if (name.startsWith('/')) return undefined
  const parts = name.split('/').filter(p => p !== '' && p !== '.')
  if (parts.length === 0 || parts.length > MAX_PATH_DEPTH) return undefined
  for (const p of parts) if (checkEntryName(p) !== undefined) return undefined
  return parts
}

/** A symlink target as UTF-8, or undefined. */
export function utf8 (raw: Uint8Array): string | undefined {
  try { return strictUtf8.decode(raw) } catch { return undefined }
}
