/**
 * Archives whose members are stored one after another, each compressed on its own (zip and wheels) or not at all
 * (`ar`, so `.deb`): cut at member boundaries, each member's bytes are the file DAG a plain file of that length
 * gets, and the archive is rebuilt by concatenation, a plain file node. Found from the archive's own index
 * (zip's central directory; ar's headers in order); anything that does not add up is no archive here.
 */
import { MAX_ZIP_DIRECTORY } from './constants.js'

/** A byte range of the archive file: a member's content, or what lies between members (headers, the index). */
export interface Segment { start: number, end: number, member: boolean }

export type SegmentedFormat = 'zip' | 'ar'

/** Reads bytes [start, end) of the archive file into memory (small ranges only: headers and the index). */
export type RangeBytes = (start: number, end: number) => Promise<Uint8Array>

const EOCD = 0x06054b50
const CENTRAL = 0x02014b50
const LOCAL = 0x04034b50
const EOCD_MIN = 22
const MAX_COMMENT = 0xffff

function view (b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength)
}

export function segmentedFormat (head: Uint8Array): SegmentedFormat | undefined {
  if (head.length >= 4 && view(head).getUint32(0, true) === LOCAL) return 'zip'
  if (head.length >= 8 && Buffer.from(head.subarray(0, 8)).toString('latin1') === '!<arch>\n') return 'ar'
  return undefined
}

/** Gaps and members in file order, checked to cover the file exactly; undefined when they do not. */
function cover (size: number, members: Array<{ start: number, end: number }>): Segment[] | undefined {
  members.sort((a, b) => a.start - b.start)
  const out: Segment[] = []
  let pos = 0
  for (const m of members) {
    if (m.start < pos || m.end < m.start || m.end > size) return undefined
    if (m.start > pos) out.push({ start: pos, end: m.start, member: false })
    if (m.end > m.start) out.push({ start: m.start, end: m.end, member: true })
    pos = m.end
  }
  if (pos < size) out.push({ start: pos, end: size, member: false })
  return out
}

/** A zip's members' compressed data, from its central directory (zip64 and encrypted archives: undefined). */
async function zipSegments (read: RangeBytes, size: number): Promise<Segment[] | undefined> {
  if (size < EOCD_MIN) return undefined
  const tailStart = Math.max(0, size - EOCD_MIN - MAX_COMMENT)
  const tail = await read(tailStart, size)
  let at = -1
  for (let i = tail.length - EOCD_MIN; i >= 0; i--) if (view(tail).getUint32(i, true) === EOCD) { at = i; break }
  if (at < 0) return undefined
  const e = view(tail.subarray(at))
  const entries = e.getUint16(10, true)
  const dirSize = e.getUint32(12, true)
  const dirStart = e.getUint32(16, true)
  if (dirSize === 0xffffffff || dirStart === 0xffffffff || entries === 0xffff) return undefined // zip64
  if (dirSize > MAX_ZIP_DIRECTORY || dirStart + dirSize > tailStart + at) return undefined
  const dir = await read(dirStart, dirStart + dirSize)
  const members: Array<{ start: number, end: number }> = []
  let p = 0
  for (let i = 0; i < entries; i++) {
    if (p + 46 > dir.length) return undefined
    const c = view(dir.subarray(p))
    if (c.getUint32(0, true) !== CENTRAL) return undefined
    const compressed = c.getUint32(20, true)
    const local = c.getUint32(42, true)
    if (compressed === 0xffffffff || local === 0xffffffff) return undefined
    p += 46 + c.getUint16(28, true) + c.getUint16(30, true) + c.getUint16(32, true)
    if (local + 30 > size) return undefined
    const h = view(await read(local, local + 30))
    if (h.getUint32(0, true) !== LOCAL) return undefined
    const start = local + 30 + h.getUint16(26, true) + h.getUint16(28, true)
    members.push({ start, end: start + compressed })
  }
  return cover(size, members)
}

/** An ar archive's members (a .deb: debian-binary, control.tar.*, data.tar.*), header by header. */
async function arSegments (read: RangeBytes, size: number, maxMembers: number): Promise<Segment[] | undefined> {
  const members: Array<{ start: number, end: number }> = []
  let pos = 8
  while (pos < size) {
    if (pos + 60 > size || members.length >= maxMembers) return undefined
    const h = Buffer.from(await read(pos, pos + 60)).toString('latin1')
    if (h.slice(58, 60) !== '`\n') return undefined
    const text = h.slice(48, 58).trim()
    if (!/^\d+$/.test(text)) return undefined
    const length = Number(text)
    const start = pos + 60
    members.push({ start, end: start + length })
    pos = start + length + (length % 2)
  }
  return pos === size ? cover(size, members) : undefined
}

/** The segments of a zip or ar archive of `size` bytes, or undefined when its index does not add up. */
export async function archiveSegments (format: SegmentedFormat, read: RangeBytes, size: number, maxMembers: number): Promise<Segment[] | undefined> {
  const segments = format === 'zip' ? await zipSegments(read, size) : await arSegments(read, size, maxMembers)
  if (segments === undefined || segments.filter(s => s.member).length > maxMembers) return undefined
  return segments
}
