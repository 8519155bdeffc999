import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createTopicScoreParams, type TopicScoreParams } from '@libp2p/gossipsub/score'
import { createHash } from 'node:crypto'
import { COLLECTION_TOPIC_SCORE, PUBSUB_MAX_MESSAGE_BYTES, PUBSUB_MESH_DEGREES, PUBSUB_SCORE_THRESHOLDS } from './constants.js'

/**
 * Gossipsub as collections use it. Messages are announcements that carry their publisher's signature, so
 * libp2p's per-message signing is off (StrictNoSign) and a message's id is the sha-256 of its bytes: the same
 * announcement arriving by gossip and again after anti-entropy is one message. Mesh degrees suit a
 * neighbourhood of tens of devices; scoring is on, and a peer relaying invalid announcements soon stops
 * being heard (graylisted).
 */
export function pubsubService (): ReturnType<typeof gossipsub> {
  return gossipsub({
    globalSignaturePolicy: 'StrictNoSign',
    msgIdFn: msg => createHash('sha256').update(msg.data).digest(),
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    ...PUBSUB_MESH_DEGREES,
    maxInboundDataLength: PUBSUB_MAX_MESSAGE_BYTES,
    // neighbours often share one public address (one household, one NAT): colocation says nothing here
    scoreParams: { IPColocationFactorWeight: 0 },
    scoreThresholds: PUBSUB_SCORE_THRESHOLDS
  })
}

/** Score parameters of a collection's topic (COLLECTION_TOPIC_SCORE over gossipsub's defaults). */
export function collectionTopicScore (): TopicScoreParams {
  return createTopicScoreParams(COLLECTION_TOPIC_SCORE)
}

/** What collections use of gossipsub (the running service's score parameters are reached to add topics). */
export type Pubsub = Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'topicValidators' | 'getSubscribers'> & {
  getScore?: (peerId: string) => number
  score?: { params: { topics: Record<string, TopicScoreParams> } }
}
