import type { CID } from 'multiformats/cid'
import { cidKey } from '../../dag/cid.js'
import { MAX_BLOCK_SIZE } from '../../dag/constants.js'
import { AbortError, InvalidOptionError, MirrorError } from '../../errors.js'
import type { Block } from '../../store/interface.js'
import type { BlockAnswer, BlockSource } from './fetcher.js'

/** Block requests in flight at once to one gateway, within one batch the fetcher hands over. */
export const DEFAULT_GATEWAY_CONCURRENCY = 8
/** A block request not fully answered (headers and body) within this long fails: the gateway has stalled. */
export const DEFAULT_GATEWAY_TIMEOUT_MS = 5000

const RAW = 'application/vnd.ipld.raw'

export interface GatewaySourceOptions {
  /** Name of the source in fetch reports. @default the base URL */
  id?: string
  /** Block requests in flight at once. @default DEFAULT_GATEWAY_CONCURRENCY (8) */
  concurrency?: number
  /** Milliseconds for one block's whole response before the request fails with ERR_MIRROR. @default DEFAULT_GATEWAY_TIMEOUT_MS (5000) */
  timeout?: number
}

export interface GatewaySource extends BlockSource {
  readonly kind: 'mirror'
  /** HTTP requests sent so far: one per block asked for. */
  readonly requests: number
}

/**
 * An IPFS trustless gateway (ours, or any public one) as a block source: each block is one
 * `GET {base}/ipfs/{cid}?format=raw`. A 404 or 410 means the gateway lacks the block; any other failure (an HTTP
 * error, a network error, no full answer within the timeout, a body over the block size limit) fails the whole
 * request with ERR_MIRROR, so the fetcher asks again, here or elsewhere. Bytes are not verified here (the
 * fetcher does), but only the CIDs asked for are answered.
 */
export function gatewaySource (baseUrl: string, init: GatewaySourceOptions = {}): GatewaySource {
  const base = parseBase(baseUrl)
  const concurrency = init.concurrency ?? DEFAULT_GATEWAY_CONCURRENCY
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new InvalidOptionError(`concurrency must be a positive integer, got ${concurrency}`)
  const timeout = init.timeout ?? DEFAULT_GATEWAY_TIMEOUT_MS
  if (!(timeout > 0)) throw new InvalidOptionError(`timeout must be a positive number of milliseconds, got ${timeout}`)
  let requests = 0

  /** One block's bytes, or undefined when the gateway says it does not hold it. */
  const fetchBlock = async (cid: CID, signal: AbortSignal, wire: { bytes: number }): Promise<Uint8Array | undefined> => {
    const url = `${base}/ipfs/${cid.toString()}?format=raw`
    const timer = AbortSignal.timeout(timeout)
    requests++
    try {
      const res = await fetch(url, { headers: { accept: RAW }, signal: AbortSignal.any([signal, timer]) })
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel()
        return undefined
      }
      if (!res.ok) {
        await res.body?.cancel()
        throw new MirrorError(url, `answered ${res.status} ${res.statusText}`, { status: res.status })
      }
      const declared = Number(res.headers.get('content-length') ?? 0)
      if (declared > MAX_BLOCK_SIZE) {
        await res.body?.cancel()
        throw new MirrorError(url, `announced ${declared} bytes, over the ${MAX_BLOCK_SIZE} byte block limit`, { status: res.status })
      }
      return await readBody(res, url, wire)
    } catch (err) {
      if (err instanceof MirrorError) throw err
      if (signal.aborted) throw new AbortError()
      if (timer.aborted) throw new MirrorError(url, `no full answer within ${timeout} ms`, { cause: err })
      const cause = (err as Error).cause instanceof Error ? `: ${((err as Error).cause as Error).message}` : ''
      throw new MirrorError(url, `${(err as Error).message}${cause}`, { cause: err })
    }
  }

  return {
    id: init.id ?? base,
    kind: 'mirror',
    get requests () { return requests },
    async request (cids: CID[], options: { signal?: AbortSignal }): Promise<BlockAnswer> {
      // the first failure fails the batch, so the blocks still in flight are cancelled
      const batch = new AbortController()
      const signal = options.signal === undefined ? batch.signal : AbortSignal.any([options.signal, batch.signal])
      const wanted = [...new Map(cids.map(c => [cidKey(c), c])).values()]
      const blocks: Block[] = []
      const missing: CID[] = []
      const wire = { bytes: 0 }
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < wanted.length) {
          if (signal.aborted) throw new AbortError()
          const cid = wanted[next++]!
          const bytes = await fetchBlock(cid, signal, wire)
          if (bytes === undefined) missing.push(cid)
          else blocks.push({ cid, bytes })
        }
      }
      try {
        await Promise.all(Array.from({ length: Math.min(concurrency, wanted.length) }, worker))
      } catch (err) {
        batch.abort()
        throw err
      }
      return { blocks, missing, wireBytes: wire.bytes }
    }
  }
}

/** The body, read as it arrives and given up (the connection cancelled) once it passes the block size limit. */
async function readBody (res: Response, url: string, wire: { bytes: number }): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array(0)
  const parts: Uint8Array[] = []
  let length = 0
  for await (const part of res.body) {
    length += part.length
    wire.bytes += part.length
    // leaving the loop cancels the stream: the rest is never downloaded
    if (length > MAX_BLOCK_SIZE) throw new MirrorError(url, `sent more than the ${MAX_BLOCK_SIZE} byte block limit`, { status: res.status })
    parts.push(part)
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length)
}

/** The base URL without a trailing slash; http and https only. */
function parseBase (baseUrl: string): string {
  let url: URL
  try {
    url = new URL(baseUrl)
  } catch {
    throw new InvalidOptionError(`gateway URL ${JSON.stringify(baseUrl)} is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError(`gateway URL must be http or https, got ${JSON.stringify(baseUrl)}`)
  return url.origin + url.pathname.replace(/\/+$/, '')
}
