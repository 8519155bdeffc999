/**
 * Policy: the pure rules of each capability, one folder each: fairness (upload scheduling, unchoking, flood guard,
 * policy.json), trust (keys, signed manifests, the trust store), collections (governance, announcements), the
 * community cache (cacheability, owners, eviction) and privacy (budget, noise).
 */
export * from './fairness/index.js'
export * from './trust/index.js'
export * from './collections/index.js'
export * from './cache/index.js'
export * from './privacy/index.js'
