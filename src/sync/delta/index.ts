/**
 * Block deltas for updates: a node that holds the old version of a DAG and fetches the new one asks, for a block
 * it lacks, a delta against the blocks it holds at the same place in the old DAG (BasePicker), applies it, and
 * stores the result once it hashes to the wanted CID; a seeder that cannot or will not answer says "no" and the
 * block comes through the block exchange.
 */
export { DELTA_PROTOCOL, MAX_ANSWER_WORK, MAX_BASES, MAX_DELTA_OPS, MAX_DELTA_RATIO, MAX_DELTA_TARGET, MAX_DELTA_WANTS } from './constants.js'
export { applyDelta, encodeDelta, type DeltaLimits } from './codec.js'
export { BasePicker, pairChildren, type Pairing, type Placed } from './pairing.js'
export {
  decodeDeltaAnswer, decodeDeltaRequest, deltaAnswerBytes, deltaRequestBytes, encodeDeltaAnswer, encodeDeltaRequest, joinBases, type DeltaReply, type DeltaWant
} from './wire.js'
export { DeltaService, type DeltaServiceComponents, type DeltaServiceOptions } from './service.js'
export { DeltaFetch, type DeltaFetchStats } from './delta-fetch.js'
