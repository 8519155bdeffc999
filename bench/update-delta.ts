/**
 * What an update moves with block deltas (src/sync/delta): the new version's blocks the old version's DAG lacks,
 * each asked for as a delta against its positional bases in the old DAG (BasePicker) and answered with the delta
 * the delta protocol would send (encodeDelta), or "no" then the plain block when the delta does not pay
 * (MAX_DELTA_RATIO). Offline: the same encoder, pairing and framing as the protocol (deltaAnswerBytes,
 * deltaRequestBytes), without a network.
 */
import type { CID } from 'multiformats/cid'
import { cidKey } from '../src/dag/cid.js'
import { CODEC_RAW } from '../src/dag/constants.js'
import { blockLinks } from '../src/dag/links.js'
import { BasePicker, deltaAnswerBytes, deltaRequestBytes, encodeDelta, joinBases, MAX_DELTA_RATIO } from '../src/sync/delta/index.js'
import type { Blockstore } from '../src/store/interface.js'

export interface DeltaAccount {
  /** Bytes received: delta answers (with their framing), plus the plain blocks of those answered "no" or without a base. */
  received: number
  /** Bytes sent: the delta requests (wanted CID and base CIDs). */
  requested: number
  /** Blocks that came as deltas / as plain blocks. */
  deltaBlocks: number
  plainBlocks: number
}

/** Account the update from `oldRoot` to `newRoot` (both in `store`; `oldKeys`: the old DAG's CIDs as strings), walking the new DAG from its root. */
export function accountDeltas (store: Blockstore, oldRoot: CID, newRoot: CID, oldKeys: Set<string>): DeltaAccount {
  const picker = new BasePicker(store, newRoot, oldRoot)
  const out: DeltaAccount = { received: 0, requested: 0, deltaBlocks: 0, plainBlocks: 0 }
  const seen = new Set<string>()
  const queue: CID[] = [newRoot]
  while (queue.length > 0) {
    const cid = queue.shift()!
    const key = cidKey(cid)
    if (seen.has(key) || oldKeys.has(cid.toString())) continue
    seen.add(key)
    const bytes = store.getSync(cid)
    const bases = picker.basesOf(cid)
    let sent = false
    if (bases !== undefined) {
      const base = joinBases(bases.map(b => picker.read(b)))
      out.requested += deltaRequestBytes(cid, bases)
      if (base !== undefined) {
        const delta = encodeDelta(base, bytes)
        if (delta.length < MAX_DELTA_RATIO * bytes.length) {
          out.received += deltaAnswerBytes(delta.length)
          out.deltaBlocks++
          sent = true
        }
      }
      if (!sent) out.received += deltaAnswerBytes(undefined)
    }
    if (!sent) {
      out.received += bytes.length
      out.plainBlocks++
    }
    if (cid.code !== CODEC_RAW) {
      picker.expanded(cid, bytes)
      queue.push(...blockLinks(cid, bytes))
    }
  }
  return out
}
