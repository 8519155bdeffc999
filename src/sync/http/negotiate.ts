import { parseEntityBytes, type DagScope, type EntityBytes } from '../../dag/car-scope.js'
import { InvalidOptionError } from '../../errors.js'
import { CAR_MEDIA_TYPE, RAW_MEDIA_TYPE } from './constants.js'

/** A CAR response as negotiated: its scope and range, and whether blocks repeat (`dups=y`). */
export interface CarWanted {
  format: 'car'
  scope: DagScope
  bytes?: EntityBytes
  /** The `entity-bytes` text as given (the ETag hashes it). */
  bytesText?: string
  dups: boolean
}

export type Wanted = { format: 'raw' } | CarWanted

/** A request the gateway refuses: the status and the reason sent as the body. */
export interface Refusal {
  status: number
  reason: string
}

interface MediaRange {
  type: string
  params: Map<string, string>
  q: number
}

/** CAR variant parameters, from an Accept entry or the `car-*` query parameters (absent: the client leaves it to us). */
interface CarParams {
  version?: string
  order?: string
  dups?: string
}

/**
 * What the client asked for (specs.ipfs.tech/http-gateways/trustless-gateway, "Request Headers" and "Request Query
 * Parameters"): `?format=` wins over Accept; in Accept the highest q wins, then the first listed, and an entry
 * with q=0 or a CAR variant this gateway does not produce is passed over. CAR parameters come from the chosen
 * Accept entry (or, with `?format=car`, the best CAR entry Accept lists), and `car-version`, `car-order` and
 * `car-dups` in the URL take precedence over them. CARs are produced as version 1, order dfs (asked for as `dfs`
 * or `unk`), dups y or n; `dups=y` with `entity-bytes` is not (a range is read once through).
 */
export function negotiate (url: URL, accept: string | undefined): Wanted | Refusal {
  const query = url.searchParams
  const format = query.get('format')
  const ranges = parseAccept(accept ?? '')
  const fromUrl: CarParams = { version: query.get('car-version') ?? undefined, order: query.get('car-order') ?? undefined, dups: query.get('car-dups') ?? undefined }
  const ranged = query.has('entity-bytes')
  const variant = (params: Map<string, string>): CarParams => ({
    version: fromUrl.version ?? params.get('version'),
    order: fromUrl.order ?? params.get('order'),
    dups: fromUrl.dups ?? params.get('dups')
  })
  const usable = (r: MediaRange): boolean => r.q > 0 && (r.type === RAW_MEDIA_TYPE || (r.type === CAR_MEDIA_TYPE && produced(variant(r.params), ranged)))

  let car: CarParams
  if (format !== null) {
    if (format === 'raw') return { format: 'raw' }
    if (format !== 'car') return { status: 406, reason: `format=${format} is not served: this trustless gateway serves raw and car` }
    const best = ranges.find(r => r.type === CAR_MEDIA_TYPE && usable(r))
    car = best === undefined ? fromUrl : variant(best.params)
  } else if (ranges.length === 0) {
    return { status: 400, reason: `this trustless gateway needs Accept: ${RAW_MEDIA_TYPE} or ${CAR_MEDIA_TYPE} (or ?format=raw or ?format=car)` }
  } else {
    const best = ranges.find(usable)
    if (best === undefined) return { status: 406, reason: `none of ${JSON.stringify(accept)} is served: ask for ${RAW_MEDIA_TYPE} or ${CAR_MEDIA_TYPE}; version=1` }
    if (best.type === RAW_MEDIA_TYPE) return { format: 'raw' }
    car = variant(best.params)
  }
  if (!produced(car, ranged)) {
    return { status: 406, reason: `only CARs of version 1, order dfs (or unk) and dups y or n are served${ranged ? ', and dups=n with entity-bytes' : ''}` }
  }
  const dups = car.dups === 'y'
  const scope = query.get('dag-scope') ?? 'all'
  if (scope !== 'all' && scope !== 'block' && scope !== 'entity') return { status: 400, reason: `dag-scope=${scope} is not one of block, entity, all` }
  const bytesText = query.get('entity-bytes') ?? undefined
  if (bytesText === undefined) return { format: 'car', scope, dups }
  try {
    return { format: 'car', scope: 'entity', bytes: parseEntityBytes(bytesText), bytesText, dups }
  } catch (err) {
    if (err instanceof InvalidOptionError) return { status: 400, reason: err.message }
    throw err
  }
}

/** Whether a CAR with these parameters (absent: any) is one this gateway produces. */
function produced (p: CarParams, ranged: boolean): boolean {
  return (p.version ?? '1') === '1' &&
    ['dfs', 'unk'].includes(p.order ?? 'dfs') &&
    ['y', 'n'].includes(p.dups ?? 'n') &&
    !(ranged && p.dups === 'y')
}

/** An Accept header's media ranges (RFC 9110 12.5.1), highest q first, ties in the order listed. */
function parseAccept (accept: string): MediaRange[] {
  const out: MediaRange[] = []
  for (const entry of accept.split(',')) {
    const [type = '', ...rest] = entry.split(';').map(s => s.trim())
    if (type === '') continue
    const params = new Map<string, string>()
    for (const p of rest) {
      const eq = p.indexOf('=')
      if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'))
    }
    const q = params.has('q') ? Number(params.get('q')) : 1
    out.push({ type: type.toLowerCase(), params, q: Number.isFinite(q) && q >= 0 && q <= 1 ? q : 0 })
  }
  return out.map((r, i) => ({ r, i })).sort((a, b) => b.r.q - a.r.q || a.i - b.i).map(x => x.r)
}
