import { createReadStream, createWriteStream } from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CarBlockIterator, CarWriter } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import { AbortError, BlockTooLargeError, CmeshError, InvalidCarError, PathNotFoundError } from '../errors.js'
import type { Blockstore } from '../store/interface.js'
import { BlockWriter } from './block-writer.js'
import { MAX_BLOCK_SIZE } from './constants.js'
import { capCarSections } from './car-limits.js'
import { blockLinks } from './links.js'
import { getVerified, verifyBlock } from './verify.js'

export type CarProgressEvent =
  | { type: 'car:blocks', blocks: number, bytes: number }

export interface CarOptions {
  signal?: AbortSignal
  onProgress?: (event: CarProgressEvent) => void
}

export interface CarExportResult {
  blocks: number
  bytes: number
}

export interface CarImportResult {
  roots: CID[]
  /** Roots whose whole DAG is now in the store (pinned unless `pin: false`). */
  complete: CID[]
  blocks: number
  newBlocks: number
  newBytes: number
}

/** Every block of the DAG under `root`, once each, depth-first, each verified against its CID. */
export async function * walkDag (store: Pick<Blockstore, 'getSync'>, root: CID, signal?: AbortSignal): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
  const seen = new Set<string>()
  const stack: CID[] = [root]
  while (stack.length > 0) {
    if (signal?.aborted === true) throw new AbortError()
    const cid = stack.pop()!
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    const bytes = await getVerified(store, cid)
    yield { cid, bytes }
    const links = blockLinks(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]!)
  }
}

/** Write the DAG under `root` as a CARv1 file (blocks in depth-first order, verified as they are read). */
export async function exportCar (store: Pick<Blockstore, 'getSync'>, root: CID, path: string, options: CarOptions = {}): Promise<CarExportResult> {
  const { writer, out } = CarWriter.create([root])
  const written = pipeline(Readable.from(out), createWriteStream(path))
  const result = { blocks: 0, bytes: 0 }
  try {
    for await (const block of walkDag(store, root, options.signal)) {
      await writer.put(block)
      result.blocks++
      result.bytes += block.bytes.length
      if (result.blocks % 256 === 0) options.onProgress?.({ type: 'car:blocks', ...result })
    }
  } finally {
    await writer.close()
    await written
  }
  options.onProgress?.({ type: 'car:blocks', ...result })
  return result
}

/**
 * The DAG under `root` as CARv1 bytes (roots `[root]`), blocks depth-first and once each, each verified as it is
 * read; with `scope: 'block'` only the root block. Pulled, so the consumer sets the pace. A missing or corrupt
 * block throws mid-stream: a consumer sees an error, never a short CAR that ends cleanly.
 */
export async function * carStream (
  store: Pick<Blockstore,
  'getSync'>,
  root: CID,
  options: { signal?: AbortSignal, scope?: 'all' | 'block' } = {}
): AsyncGenerator<Uint8Array> {
  const blocks = options.scope === 'block' ? [{ cid: root, bytes: await getVerified(store, root) }] : walkDag(store, root, options.signal)
  yield * carSections(root, blocks)
}

type AnyIterable<T> = Iterable<T> | AsyncIterable<T>

/** CARv1 bytes (roots `[root]`) of `blocks`, in their order, as they are pulled. */
export async function * carSections (root: CID, blocks: AnyIterable<{ cid: CID, bytes: Uint8Array }>): AsyncGenerator<Uint8Array> {
  yield lengthPrefixed(dagCbor.encode({ version: 1, roots: [root] }), new Uint8Array(0))
  for await (const { cid, bytes } of blocks) {
    // block bytes go out as they are: only the short prefix is copied
    yield lengthPrefixed(cid.bytes, bytes)
    yield bytes
  }
}

/** A CAR section's varint length (of `head` and `tail` together) followed by `head`. */
function lengthPrefixed (head: Uint8Array, tail: Uint8Array): Uint8Array {
  const length = head.length + tail.length
  const out = new Uint8Array(varint.encodingLength(length) + head.length)
  varint.encodeTo(length, out)
  out.set(head, out.length - head.length)
  return out
}

async function * carBlocks (path: string, signal?: AbortSignal): AsyncGenerator<{ cid: CID, bytes: Uint8Array }, CID[]> {
  let iterator: CarBlockIterator
  try {
    iterator = await CarBlockIterator.fromIterable(capCarSections(createReadStream(path)))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PathNotFoundError(path, { cause: err })
    if (err instanceof CmeshError) throw err
    throw new InvalidCarError(`${path} is not a CAR file: ${(err as Error).message}`, { cause: err })
  }
  const roots = await iterator.getRoots()
  try {
    for await (const block of iterator) {
      if (signal?.aborted === true) throw new AbortError()
      if (block.bytes.length > MAX_BLOCK_SIZE) throw new BlockTooLargeError(block.bytes.length, MAX_BLOCK_SIZE)
      await verifyBlock(block.cid, block.bytes, 'the CAR file')
      blockLinks(block.cid, block.bytes) // a node must decode (cmesh nodes: in the schema, safe names) to be stored
      yield block
    }
  } catch (err) {
    if (err instanceof CmeshError) throw err
    throw new InvalidCarError(`${path} is malformed: ${(err as Error).message}`, { cause: err })
  }
  return roots
}

/**
 * Import a CAR file. Every block is verified before anything is stored: a block whose bytes do not match
 * its CID refuses the whole file (ERR_BLOCK_CORRUPT) and nothing of it is stored. Roots whose DAG is
 * complete afterwards are pinned (or only recorded complete with `pin: false`).
 */
export async function importCar (
  store: Pick<Blockstore,
  'putMany' | 'openSession' | 'missing' | 'pin' | 'markComplete'>,
  path: string,
  options: CarOptions & { pin?: boolean } = {}
): Promise<CarImportResult> {
  // pass 1: verify everything, store nothing
  const check = carBlocks(path, options.signal)
  let n = 0
  let step = await check.next()
  while (step.done !== true) {
    n++
    if (n % 256 === 0) options.onProgress?.({ type: 'car:blocks', blocks: n, bytes: 0 })
    step = await check.next()
  }
  const roots = step.value
  // pass 2: store, verifying again so a file changed in between cannot slip anything in
  const session = store.openSession()
  try {
    const writer = new BlockWriter(store, session)
    for await (const block of carBlocks(path, options.signal)) await writer.put(block.cid, block.bytes)
    await writer.done()
    const complete: CID[] = []
    for (const root of roots) {
      if (store.missing(root).length > 0) continue
      if (options.pin ?? true) await store.pin(root)
      else await store.markComplete(root)
      complete.push(root)
    }
    return { roots, complete, blocks: writer.blocks, newBlocks: writer.newBlocks, newBytes: writer.newBytes }
  } finally {
    session.end()
  }
}
