import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createTopicScoreParams, type TopicScoreParams } from '@libp2p/gossipsub/score'
import { createHash } from 'node:crypto'
import { MAX_ANNOUNCEMENT_BYTES } from '../../policy/collections/announcement.js'

/**
 * Gossipsub as collections use it. Messages are announcements that carry their publisher's signature, so
 * libp2p's per-message signing is off (StrictNoSign) and a message's id is the sha-256 of its bytes: the same
 * announcement arriving by gossip and again after anti-entropy is one message. Mesh degrees suit a
 * neighbourhood of tens of devices; scoring is on, and a peer relaying invalid announcements soon stops
 * being heard (graylisted).
 */
export const PUBSUB_SCORE_THRESHOLDS = { gossipThreshold: -10, publishThreshold: -25, graylistThreshold: -50 }

export function pubsubService (): ReturnType<typeof gossipsub> {
  return gossipsub({
    globalSignaturePolicy: 'StrictNoSign',
    msgIdFn: msg => createHash('sha256').update(msg.data).digest(),
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    D: 4,
    Dlo: 2,
    Dhi: 8,
    Dout: 1,
    Dscore: 2,
    maxInboundDataLength: MAX_ANNOUNCEMENT_BYTES + 1024,
    // neighbours often share one public address (one household, one NAT): colocation says nothing here
    scoreParams: { IPColocationFactorWeight: 0 },
    scoreThresholds: PUBSUB_SCORE_THRESHOLDS
  })
}

/**
 * Score parameters of a collection's topic: invalid announcements (P4) cost -1 times their count squared, so a
 * handful is forgiven while a flooder is graylisted within a few; a quiet mesh peer is no fault (collections
 * are mostly silent), so mesh delivery deficits are not penalised.
 */
export function collectionTopicScore (): TopicScoreParams {
  return createTopicScoreParams({
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 100,
    firstMessageDeliveriesWeight: 0.5,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 10,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: -1,
    invalidMessageDeliveriesDecay: 0.99
  })
}

/** What collections use of gossipsub (the running service's score parameters are reached to add topics). */
export type Pubsub = Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'topicValidators' | 'getSubscribers'> & {
  getScore?: (peerId: string) => number
  score?: { params: { topics: Record<string, TopicScoreParams> } }
}
