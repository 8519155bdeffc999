/** A fetch's parts on a fake clock, with sources that never answer: the tests drive requests by hand. */
import type { TestContext } from 'node:test'
import { CID } from 'multiformats/cid'
import { createHash } from 'node:crypto'
import { create as digestOf } from 'multiformats/hashes/digest'
import { cidKey } from '../../../src/dag/cid.js'
import { CODEC_RAW } from '../../../src/dag/constants.js'
import type { BlockSource, FetchOptions, FetchProgressEvent } from '../../../src/sync/fetch/fetch-interface.js'
import { Requests } from '../../../src/sync/fetch/requests.js'
import { FetchSession, type Outstanding } from '../../../src/sync/fetch/session.js'
import type { SourceStats } from '../../../src/sync/fetch/source-stats.js'
import { Stalls } from '../../../src/sync/fetch/stalls.js'
import { WantList } from '../../../src/sync/fetch/want-list.js'
import { tempStore } from '../../helpers/temp.js'
import { FakeClock } from '../../helpers/fake-clock.js'

/**
 * Block `n` of a test: a raw CID over the SHA-256 of "block n" (not an identity CID, whose bytes every store holds
 * by reading the CID, so a fetch would never want it).
 */
export function block (n: number): CID {
  return CID.createV1(CODEC_RAW, digestOf(0x12, createHash('sha256').update(`block ${n}`).digest()))
}

/** Blocks `from` to `to - 1`. */
export function blocks (from: number, to: number): CID[] {
  return Array.from({ length: to - from }, (_, i) => block(from + i))
}

export const key = cidKey

export interface Parts {
  clock: FakeClock
  session: FetchSession
  wants: WantList
  requests: Requests
  stalls: Stalls
  events: FetchProgressEvent[]
  /** Every request sent, in order. */
  sent: Outstanding[]
  /** Blocks taken back from each source's requests (only sources in `cancels` can). */
  cancelled: Map<string, CID[]>
  source: (id: string) => SourceStats
  /** What source `id` was asked for, request by request. */
  askedOf: (id: string) => CID[][]
}

/** Sources `ids` (those in `cancels` can take blocks back), on a fake clock. */
export function parts (t: TestContext, ids: string[], options: { cancels?: string[], fetch?: FetchOptions } = {}): Parts {
  const clock = new FakeClock()
  const events: FetchProgressEvent[] = []
  const sources: BlockSource[] = ids.map(id => ({ id, request: async () => ({ blocks: [], missing: [] }) }))
  const session = new FetchSession(tempStore(t), block(-1), sources, { ...options.fetch, onProgress: e => events.push(e) }, clock)
  const wants = new WantList(session)
  const sent: Outstanding[] = []
  const cancelled = new Map<string, CID[]>()
  // a request is out until the fetcher cancels it
  const requests = new Requests(session, wants, async (s, entry) => {
    sent.push(entry)
    if (options.cancels?.includes(s.source.id) === true) entry.cancel = cids => cancelled.set(s.source.id, [...cancelled.get(s.source.id) ?? [], ...cids])
    await new Promise(resolve => entry.controller.signal.addEventListener('abort', resolve, { once: true }))
  })
  const stalls = new Stalls(session, requests)
  t.after(() => { for (const o of sent) o.controller.abort() })
  return {
    clock,
    session,
    wants,
    requests,
    stalls,
    events,
    sent,
    cancelled,
    source: id => session.live.get(id)!,
    askedOf: id => sent.filter(o => o.source.source.id === id).map(o => o.cids)
  }
}
