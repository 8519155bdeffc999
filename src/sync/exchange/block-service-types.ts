/** What a block service is told at start (BlockServiceOptions) and what it reports of its peers (PeerFairness, PeerStats). */
import type { ChokeState } from '../../policy/fairness/unchoker.js'
import type { Ledger } from '../../policy/fairness/ledger.js'
import type { Policy } from '../../policy/fairness/policy-file.js'
import type { SuperSeeder } from './super-seed.js'

export interface BlockServiceOptions {
  /** Peers that sent bad blocks are added here; the node's connection gater refuses them from then on. */
  banned?: Set<string>
  /** Bytes a second this node uploads at most, over all peers. @default unlimited */
  uploadLimit?: number
  /**
   * Ask peers which blocks they hold so the rarest go first. Off by default: in bench:swarm (eight full
   * seeders) it cut the speedup from 6.8x to 4.6x, for a reason not yet found. @default false
   */
  rarestFirst?: boolean
  /** Send blocks compressed when that saves at least 10 % (see src/sync/exchange/compression.ts). @default true */
  compress?: boolean
  /** Fairness and priorities (policy.json's `fairness` and `priorities`). @default parsePolicy({}) */
  policy?: Policy
  /** Schedule uploads fairly; false: first come, first served (overrides policy.fairness.enabled). @default true */
  fair?: boolean
  /** Bytes sent to and received from each peer. @default a ledger in memory */
  ledger?: Ledger
  /**
   * Bytes requesters may make this node hold at once over all connections: partial frames, queued wants and
   * answers waiting to be sent (see BufferBudget). @default BUFFER_BUDGET_BYTES (64 MiB)
   */
  bufferLimit?: number
  /**
   * Serve and request blocks over limited (relayed) connections too. Off by default: a circuit relay carries
   * signalling, not bulk data, and cuts a relayed connection after its data cap; blocks wait for a direct connection
   * (DCUtR hole punching, or a dial). @default false
   */
  allowRelayedTransfers?: boolean
  /**
   * Send each leaf of a file this node holds whole about once, and let the downloaders pass it on (see
   * SuperSeeder; HoldingsService.superSeeder). @default none
   */
  superSeeder?: Pick<SuperSeeder, 'order' | 'hold' | 'refuse' | 'sent'>
}

/** One peer as the upload side sees it: `cmesh stats`. */
export interface PeerFairness {
  peer: string
  /** Upload group (address or subnet). */
  group: string | undefined
  sent: number
  received: number
  /** sent / received; null while it sent us nothing. */
  ratio: number | null
  choke: ChokeState
  /** Gave us at least what it took from us. */
  seeding: boolean
  /** Its scheduler weight now. */
  weight: number
  /** Its group's share of our upload over the last window. */
  share: number
  strikes: number
  throttled: boolean
  score: number
}

export interface PeerStats {
  /** Blocks we served to this peer. */
  blocksServed: number
  /** Verified bytes we received from this peer. */
  bytesReceived: number
  /** Down for every bad block or protocol violation. */
  score: number
}

/**
 * The /cmesh/blocks/1.0.0 protocol on a libp2p node: answers wants from the store (blocks batched into
 * messages of about 1 MiB, compressed when that pays, don't-haves for the rest) and asks peers for blocks,
 * counting the bytes each answer took on the stream. Every message is decoded strictly and a compressed one is
 * inflated only up to its declared size; a peer that breaks the protocol has its stream aborted and is scored down.
 *
 * What requesters make this node hold (frames being read, wants waiting for their answer, answers in send queues)
 * is charged to one BufferBudget for all of them; when it is spent, the peer holding most beyond its share is reset
 * (its streams aborted, its connections closed, a strike). Our own requests' answers are not charged: how many of
 * them are in flight is this node's choice (the fetcher's pipeline), and an attacker's pressure on the budget must
 * not abort our downloads from honest peers.
 */
