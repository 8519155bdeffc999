import { InvalidCarError } from '../errors.js'
import { MAX_BLOCK_SIZE } from './constants.js'

/** A CAR header (roots) at most: a few thousand roots fit. */
export const MAX_CAR_HEADER_BYTES = 1024 * 1024

/** A CAR section at most: the CID (a few dozen bytes; 256 is generous) and a block of at most MAX_BLOCK_SIZE. */
export const MAX_CAR_SECTION_BYTES = MAX_BLOCK_SIZE + 256

/** The CARv2 pragma: the varint 10 and DAG-CBOR `{ version: 2 }`. */
const V2_PRAGMA = Uint8Array.from([0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02])
const V2_HEADER_BYTES = 40

/**
 * Pass a CAR byte stream through, refusing it (ERR_INVALID_CAR) as soon as a section's length prefix declares more
 * than the limits: a reader that buffers whole sections (as @ipld/car's does) never holds more than one block.
 * CARv1, and the v1 payload of a CARv2 (its index, after the payload, is passed through unread).
 */
export async function * capCarSections (
  source: AsyncIterable<Uint8Array>,
  maxSection = MAX_CAR_SECTION_BYTES,
  maxHeader = MAX_CAR_HEADER_BYTES
): AsyncGenerator<Uint8Array> {
  let pos = 0 // offset in the stream of the byte being looked at
  let state: 'len' | 'skip' | 'pragma' | 'v2header' | 'gap' | 'rest' = 'len'
  let value = 0 // a varint being read
  let scale = 1
  let remaining = 0 // bytes left of a section (skip) or before the v2 payload (gap)
  let sections = 0 // sections read in the current v1 payload (the first is its header)
  let payloadEnd = Infinity // a CARv2's payload ends here
  let v2 = false
  const collected: number[] = [] // the pragma or the v2 header, as they come
  for await (const chunk of source) {
    let i = 0
    while (i < chunk.length) {
      if (state === 'rest') break
      if (state === 'len') {
        if (pos >= payloadEnd) { state = 'rest'; break }
        const byte = chunk[i++]!
        pos++
        value += (byte & 0x7f) * scale
        scale *= 128
        if ((byte & 0x80) !== 0) {
          if (scale > 2 ** 56) throw new InvalidCarError('CAR section length prefix is too long')
          continue
        }
        const limit = sections === 0 ? maxHeader : maxSection
        if (value > limit) throw new InvalidCarError(`CAR ${sections === 0 ? 'header' : 'section'} of ${value} bytes exceeds the limit of ${limit}`)
        remaining = value
        state = sections === 0 && !v2 && value === V2_PRAGMA.length ? 'pragma' : 'skip'
        sections++
        value = 0
        scale = 1
        if (remaining === 0) state = 'len'
        continue
      }
      if (state === 'skip' || state === 'gap') {
        const k = Math.min(remaining, chunk.length - i)
        i += k
        pos += k
        remaining -= k
        if (remaining === 0) state = 'len'
        continue
      }
      // pragma or v2 header: bytes to look at
      collected.push(chunk[i++]!)
      pos++
      if (state === 'pragma' && collected.length === V2_PRAGMA.length) {
        const isV2 = collected.every((b, k) => b === V2_PRAGMA[k])
        collected.length = 0
        state = isV2 ? 'v2header' : 'len'
      } else if (state === 'v2header' && collected.length === V2_HEADER_BYTES) {
        const view = new DataView(Uint8Array.from(collected).buffer)
        const dataOffset = Number(view.getBigUint64(16, true))
        const dataSize = Number(view.getBigUint64(24, true))
        collected.length = 0
        v2 = true
        sections = 0
        payloadEnd = dataOffset + dataSize
        // the payload must start after the header: an offset back inside it would make the reader seek to bytes
        // this check has already passed as something else
        if (dataOffset < pos || !Number.isSafeInteger(dataOffset + dataSize)) throw new InvalidCarError(`CARv2 payload offset ${dataOffset} is inside its header`)
        remaining = dataOffset - pos
        state = remaining > 0 ? 'gap' : 'len'
      }
    }
    yield chunk
  }
}
