/**
 * The peer layer, one folder a capability: net/ (libp2p plumbing), exchange/ (the block protocol), fetch/ (the
 * fetcher and its sources), releases/, collections/, cache/ (the community cache and proxy), http/ (the gateway).
 */
export * from './net/index.js'
export * from './exchange/index.js'
export * from './fetch/index.js'
export * from './releases/index.js'
export * from './collections/index.js'
export * from './cache/index.js'
export * from './http/index.js'
