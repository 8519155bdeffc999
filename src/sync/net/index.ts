/**
 * libp2p plumbing: the node's identity, which addresses to announce, bootstrap entries, redialing, the peers
 * remembered across restarts, reachability warnings, peer exchange, pubsub, and relay mode 'auto' (a home that finds
 * out from its peers that it is behind NAT reserves a relay slot).
 */
export { loadOrCreateIdentity } from './identity.js'
export { announceable, isLoopback } from './addresses.js'
export { pubsubService, collectionTopicScore } from './pubsub.js'
export { NAT_EVIDENCE_PEERS, PUBSUB_SCORE_THRESHOLDS, RELAY_RESERVATION_ADDR } from './constants.js'
export { parseBootstrap, type Bootstrap } from './bootstrap.js'
export { PeerMemory, type RememberedPeer, type PeerMemoryOptions } from './peer-memory.js'
export { Reachability, type ReachabilityOptions, type Unreachable } from './reachability.js'
export { AutoRelay, autoRelay, judgeNat, ipOf, type AutoRelayInit, type AutoRelayStatus, type AutoRelayComponents, type NatJudgement, type NatVerdict } from './auto-relay.js'
