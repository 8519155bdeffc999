import { CID } from 'multiformats/cid'
import { AbortError, DagTooLargeError, InvalidNodeError, InvalidOptionError, NotInDagError } from '../errors.js'
import type { Blockstore } from '../store/interface.js'
import { walkDag } from './car.js'
import { CODEC_DAG_CBOR, CODEC_DAG_PB, CODEC_RAW } from './constants.js'
import { cat, resolvePath, stat } from './exporter.js'
import { blockLinks } from './links.js'
import { decodeCbor } from '../store/links.js'
import { decodeNode, isNodeShaped } from './nodes.js'
import { decodeUnixfs, MAX_HAMT_DEPTH, unixfsLookupLink } from './unixfs/index.js'
import { getVerified } from './verify.js'

/**
 * Which blocks a CAR for `/ipfs/{root}/{path}` holds, as the trustless gateway spec's `dag-scope` and `entity-bytes`
 * say (specs.ipfs.tech/http-gateways/trustless-gateway): first the blocks read to resolve the path (so a client can
 * verify every step from the root it asked for), then, at the end of the path,
 *   block:  its root block;
 *   entity: a file's whole DAG; a directory's own nodes (a cmesh directory's parts, a UnixFS HAMT's shards), not
 *           its entries; anything else, its root block;
 *   all:    the whole DAG below it;
 * and with `bytes`, for a file, only the blocks a reader of that byte range reads. Blocks come depth-first, once
 * each (`dups=n`), or, with `dups`, every time the walk reaches them (`dups=y`: a file with a chunk twice sends it
 * twice); each verified as it is read; pulled, so memory holds a block or two at a time.
 */
export type DagScope = 'block' | 'entity' | 'all'

/** An `entity-bytes=from:to` range: inclusive offsets, negative from the end, `to` undefined for `*`. */
export interface EntityBytes {
  from: number
  to?: number
}

export interface ScopeOptions {
  path?: string
  scope?: DagScope
  bytes?: EntityBytes
  /**
   * Send a block every time the walk reaches it (`dups=y`) rather than once. Not with `bytes` (ERR_INVALID_OPTION):
   * a range is read once through. @default false
   */
  dups?: boolean
  /** Most blocks a `dups` walk may send (a DAG sharing a node at every level doubles at each): ERR_DAG_TOO_LARGE past it. */
  maxBlocks?: number
  signal?: AbortSignal
}

type Block = { cid: CID, bytes: Uint8Array }
type ReadStore = Pick<Blockstore, 'getSync'>

/** Parse `from:to` (`*` for the end, negative offsets from the end); ERR_INVALID_OPTION for anything else. */
export function parseEntityBytes (text: string): EntityBytes {
  const m = /^(-?\d{1,16}):(\*|-?\d{1,16})$/.exec(text)
  if (m === null) throw new InvalidOptionError(`entity-bytes must be from:to (integers, or * for the end), got ${JSON.stringify(text)}`)
  const from = Number(m[1])
  const to = m[2] === '*' ? undefined : Number(m[2])
  if (to !== undefined && to >= 0 && from >= 0 && to < from) throw new InvalidOptionError(`entity-bytes ${text}: the range ends before it starts`)
  return { from, to }
}

/** A store that notes, in order and once each, every block read through it. */
class Recorder {
  readonly seen = new Set<string>()
  pending: Block[] = []
  constructor (readonly store: ReadStore) {}
  getSync (cid: CID): Uint8Array {
    const bytes = this.store.getSync(cid)
    const key = cid.toString()
    if (!this.seen.has(key)) {
      this.seen.add(key)
      this.pending.push({ cid, bytes })
    }
    return bytes
  }

  * drain (): Generator<Block> {
    const out = this.pending
    this.pending = []
    yield * out
  }
}

/**
 * The byte range [offset, offset + length) of the file of `size` bytes that `bytes` names, or undefined when it
 * holds no byte of the file (the spec then answers as for dag-scope=block).
 */
export function entityRange (bytes: EntityBytes, size: number): { offset: number, length: number } | undefined {
  const from = bytes.from < 0 ? Math.max(0, size + bytes.from) : bytes.from
  const last = bytes.to === undefined ? size - 1 : Math.min(size - 1, bytes.to < 0 ? size + bytes.to : bytes.to)
  if (from >= size || last < from) return undefined
  return { offset: from, length: last - from + 1 }
}

/**
 * The blocks of a scoped CAR (see DagScope). Resolving the path (ERR_NOT_IN_DAG...) and a range that starts past
 * the end of the file (ERR_INVALID_OPTION) throw before any block is yielded.
 */
export async function * scopedBlocks (store: ReadStore, root: CID, options: ScopeOptions = {}): AsyncGenerator<Block> {
  if (options.dups === true && options.bytes !== undefined) throw new InvalidOptionError('a byte range is sent without duplicates (dups=n)')
  const recorder = new Recorder(store)
  const path = options.path ?? ''
  const target = await resolveSegments(recorder, root, path.split('/').filter(p => p !== ''))
  await getVerified(recorder, target)
  if (options.bytes !== undefined && options.bytes.from >= 0 && await kindOf(recorder, target) === 'file') {
    // known before the first block: a range that starts past the end is refused (the spec's SHOULD 400), where a
    // range that is empty only once negative offsets are resolved gets the root block alone (below)
    const size = (await stat(recorder, target)).size
    if (size > 0 && options.bytes.from >= size) throw new InvalidOptionError(`entity-bytes start at ${options.bytes.from}, past the end of the file (${size} bytes)`)
  }
  yield * recorder.drain() // the path's blocks, the target's root last
  const scope = options.bytes !== undefined ? 'entity' : options.scope ?? 'all'
  if (scope === 'block') return
  if (options.dups === true && (scope === 'all' || (scope === 'entity' && await kindOf(recorder, target) === 'file'))) {
    yield * everyVisit(store, target, options.maxBlocks ?? Number.POSITIVE_INFINITY, options.signal)
    return
  }
  if (scope === 'all') {
    for await (const block of walkDag(store, target, options.signal)) if (!recorder.seen.has(block.cid.toString())) yield block
    return
  }
  const kind = target.code === CODEC_DAG_PB || target.code === CODEC_DAG_CBOR || target.code === CODEC_RAW ? await kindOf(recorder, target) : undefined
  if (kind === 'file') {
    const range = options.bytes === undefined ? undefined : entityRange(options.bytes, (await stat(recorder, target)).size)
    if (options.bytes !== undefined && range === undefined) return // no byte of the file: the root block alone
    for await (const _ of cat(recorder, target, { ...range, signal: options.signal })) yield * recorder.drain()
    yield * recorder.drain()
    return
  }
  if (kind === 'dir') yield * dirNodes(recorder, target, options.signal)
}

async function kindOf (store: ReadStore, cid: CID): Promise<'file' | 'dir' | undefined> {
  try {
    return (await stat(store, cid)).kind
  } catch (err) {
    // not a cmesh or UnixFS node (a manifest, a symlink, any other DAG-CBOR): the spec's entity is then its block alone
    if (err instanceof NotInDagError || err instanceof InvalidNodeError) return undefined
    throw err
  }
}

/** A directory's own nodes below its root: a cmesh directory's parts, a UnixFS HAMT's sub-shards. */
async function * dirNodes (recorder: Recorder, cid: CID, signal?: AbortSignal, depth = 0): AsyncGenerator<Block> {
  signal?.throwIfAborted()
  if (depth > MAX_HAMT_DEPTH) throw new InvalidNodeError(cid.toString(), `directory nodes deeper than ${MAX_HAMT_DEPTH} levels`)
  const bytes = await getVerified(recorder, cid)
  yield * recorder.drain()
  let below: CID[] = []
  if (cid.code === CODEC_DAG_CBOR) {
    const node = decodeNode(cid, bytes)
    below = node.type === 'dir' ? (node.parts ?? []).map(p => p.cid) : []
  } else if (cid.code === CODEC_DAG_PB) {
    const node = decodeUnixfs(cid, bytes)
    below = node.type === 'hamt' ? node.links.filter(l => l.name === undefined).map(l => l.cid) : []
  }
  for (const next of below) yield * dirNodes(recorder, next, signal, depth + 1)
}

/** The DAG below `root` depth-first, each block as often as the walk reaches it, `root` itself left out (sent already). */
async function * everyVisit (store: ReadStore, root: CID, maxBlocks: number, signal?: AbortSignal): AsyncGenerator<Block> {
  const stack: CID[] = blockLinks(root, await getVerified(store, root)).reverse()
  let sent = 0
  while (stack.length > 0) {
    if (signal?.aborted === true) throw new AbortError()
    const cid = stack.pop()!
    if (++sent > maxBlocks) throw new DagTooLargeError(root.toString(), 'blocks', maxBlocks)
    const bytes = await getVerified(store, cid)
    yield { cid, bytes }
    const links = blockLinks(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]!)
  }
}

/**
 * The CID at the end of `segments` below `root`, one segment at a time by what each block is: a UnixFS directory
 * (its link by that name, HAMT shards on the name's path only), a cmesh node (its own lookup), or any other DAG-CBOR
 * (IPLD pathing: map keys and list indexes down to a link). Symlinks are not followed. ERR_NOT_IN_DAG otherwise.
 */
async function resolveSegments (store: ReadStore, root: CID, segments: string[]): Promise<CID> {
  let cid = root
  let i = 0
  while (i < segments.length) {
    const name = segments[i]!
    if (cid.code === CODEC_DAG_PB) {
      const link = await unixfsLookupLink(store, cid, name)
      if (link === undefined) throw new NotInDagError(`no entry ${JSON.stringify(name)} in ${cid}`)
      cid = link.cid
      i++
      continue
    }
    if (cid.code !== CODEC_DAG_CBOR) throw new NotInDagError(`cannot look up ${JSON.stringify(name)}: ${cid} has no entries`)
    const value = decodeCbor(cid, await getVerified(store, cid))
    if (isNodeShaped(value)) {
      const resolved = await resolvePath(store, cid, name)
      if (resolved.kind === 'symlink') throw new NotInDagError(`${name} is a symlink; symlinks are not followed`)
      cid = resolved.cid
      i++
      continue
    }
    let at: unknown = value
    do {
      at = ipldStep(at, segments[i]!)
      i++
    } while (i < segments.length && CID.asCID(at) === null)
    const link = CID.asCID(at)
    if (link === null) throw new NotInDagError(`${segments.slice(0, i).join('/')} below ${cid} is not a link`)
    cid = link
  }
  return cid
}

/** One IPLD path segment into a decoded DAG-CBOR value: a map key, or a list index. */
function ipldStep (value: unknown, segment: string): unknown {
  if (Array.isArray(value) && /^(0|[1-9]\d{0,8})$/.test(segment) && Number(segment) < value.length) return value[Number(segment)]
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array) && CID.asCID(value) === null &&
    Object.hasOwn(value, segment)) return (value as Record<string, unknown>)[segment]
  throw new NotInDagError(`no ${JSON.stringify(segment)} in the DAG-CBOR value`)
}
