/**
 * libp2p plumbing: the node's identity, which addresses to announce, redialing, peer exchange and pubsub.
 */
export { loadOrCreateIdentity } from './identity.js'
export { announceable, isLoopback } from './addresses.js'
export { pubsubService, collectionTopicScore, PUBSUB_SCORE_THRESHOLDS } from './pubsub.js'
