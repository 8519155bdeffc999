/**
 * libp2p plumbing: the node's identity, which addresses to announce, redialing, peer exchange and pubsub.
 */
export { loadOrCreateIdentity } from './identity.js'
export { announceable, isLoopback } from './addresses.js'
export { pubsubService, collectionTopicScore } from './pubsub.js'
export { PUBSUB_SCORE_THRESHOLDS } from './constants.js'
