/**
 * Fairness: the upload scheduler (deficit round robin over address groups, share caps, AIMD congestion control,
 * priority classes), unchoking on a reciprocation ledger, the flood guard, token buckets, and policy.json.
 */
export { TokenBucket, parseRate, type TokenBucketOptions } from './token-bucket.js'
export { systemClock, type Clock } from '../../clock.js'
export { UploadScheduler, type UploadSchedulerOptions, type UploadRequest, type UploadGrant, type GrantEvent } from './upload-scheduler.js'
export { DeficitRoundRobin, Fifo } from './deficit-round-robin.js'
export { uploadGroup, type GroupingOptions } from './upload-groups.js'
export { AimdRate, type CongestionOptions } from './congestion.js'
export { Ledger, readLedger, type LedgerEntry, type LedgerRow } from './ledger.js'
export { Unchoker, type UnchokeOptions, type ChokeState } from './unchoker.js'
export { FloodGuard, type FloodOptions, type StrikeReason } from './flood-guard.js'
export { PriorityClasses, type PurposeIndex } from './priority-classes.js'
export { parsePolicy, readPolicy, DEFAULT_PRIORITY_CLASSES, type Policy, type FairnessPolicy, type PriorityClass } from './policy-file.js'
export { localSubnets, onSegment, ipv4Of } from './segments.js'
