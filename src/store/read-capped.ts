import { open } from 'node:fs/promises'
import { PathNotFoundError, TooLargeError } from '../errors.js'

/**
 * Read a file (or a stream) whole, refusing it with ERR_TOO_LARGE as soon as more than `max` bytes have come:
 * the limit holds while reading, for FIFOs, devices and files that grow as well as for regular files.
 */
export async function readCapped (source: string | AsyncIterable<Uint8Array>, max: number, what: string): Promise<Buffer> {
  if (typeof source !== 'string') return await collectCapped(source, max, what)
  let fh
  try {
    fh = await open(source, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PathNotFoundError(source, { cause: err })
    throw err
  }
  try {
    const info = await fh.stat()
    if (info.isFile() && info.size > max) throw new TooLargeError(`${what} ${source} is ${info.size} bytes, over the limit of ${max}`)
    return await collectCapped(fh.createReadStream({ autoClose: false }), max, `${what} ${source}`)
  } finally {
    await fh.close()
  }
}

async function collectCapped (source: AsyncIterable<Uint8Array>, max: number, what: string): Promise<Buffer> {
  const parts: Uint8Array[] = []
  let total = 0
  for await (const part of source) {
    total += part.length
    if (total > max) throw new TooLargeError(`${what} sends more than the limit of ${max} bytes`)
    parts.push(part)
  }
  return Buffer.concat(parts)
}
