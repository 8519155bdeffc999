/** Tunables of the libp2p plumbing: peer exchange, redialing and gossipsub. */
import { MAX_ANNOUNCEMENT_BYTES } from '../../policy/collections/constants.js'

/** Peer exchange: a connected peer tells us whom else it is connected to, so one bootstrap address finds many. */
export const PEX_PROTOCOL = '/cmesh/pex/1.0.0'
/** Peer exchange: peers in one answer (a neighbourhood's tens of devices fit; more is no help to a bootstrap). */
export const MAX_PEERS = 64
/** Peer exchange: addresses of one peer in an answer (a device's interfaces and transports, not a list to scan). */
export const MAX_ADDRS = 8
/** Peer exchange: largest answer frame read (MAX_PEERS peers of MAX_ADDRS addresses fit with room to spare). */
export const MAX_PEX_BYTES = 64 * 1024
/**
 * Peer exchange: connections past which we stop dialing peers we hear of (well above the redialer's minimum, and
 * gossipsub's widest mesh, 12). A connection costs each side about 40 ms of CPU to open (TLS with a fresh
 * certificate, identify) and keeps costing (pings, gossip): a flash crowd of 55 nodes on two cores, each dialling up
 * to 32 of the others, took 40.8 s and 82 CPU s where 12 took 28.8 s and 58 CPU s (bench:fairness --crowd-only,
 * medians of three alternated runs).
 * Peers that dial us are never refused for it; a node takes what it needs from the peers it has.
 */
export const DEFAULT_MAX_CONNECTIONS = 12
/** Peer exchange: asking a peer whom it knows is given up after this long (a dial and one small frame). */
export const PEX_ASK_TIMEOUT_MS = 10_000
/** Peer exchange: questions one peer may have open with us at once (it asks once per identify). */
export const PEX_MAX_INBOUND_STREAMS = 2
/**
 * Peer exchange: a peer that dialled us is asked whom it knows, and the peers it names dialled, after a random wait
 * of this many ms (up to twice it). A newcomer that dials its bootstrap peers dials what they tell it at once, so it
 * joins at once; the peers it dialled learn of each other through it, and their questions and dials wait. Eight seeders a new downloader named all
 * dialled each other within its first second (28 TLS handshakes on two cores), which held a 32 MiB download at
 * 4.1 s instead of 2.1 s; BitTorrent's peer exchange is slower still (a message a minute).
 */
export const PEX_INBOUND_DIAL_DELAY_MS = 5_000

/** Redial: below this many connections, a node dials peers it knows until it is back at it. */
export const DEFAULT_MIN_PEERS = 4
/** Redial: how often the connection count is checked, besides right after a peer leaves. */
export const CHECK_INTERVAL_MS = 5_000
/** Redial: first wait before dialling again a peer that could not be reached; it doubles with each failure. */
export const FIRST_BACKOFF_MS = 1_000
/** Redial: longest wait between attempts at one peer (or one bootstrap address): one dial a minute at most. */
export const MAX_BACKOFF_MS = 60_000
/** Redial: dials in flight at once (a few: a node short of peers wants them back soon, not a dial storm). */
export const PARALLEL_DIALS = 4
/** Redial: one dial is given up after this long (a peer on the LAN answers in well under a second). */
export const REDIAL_TIMEOUT_MS = 10_000
/** Redial: after a disconnect the check waits this long, so a peer that hung up and redials us is not dialled twice. */
export const DISCONNECT_SETTLE_MS = 250

/**
 * Gossipsub mesh degrees, suited to a neighbourhood of tens of devices: 4 mesh peers per topic (2 to 8), at least
 * 1 outbound, 2 kept by score when the mesh is pruned.
 */
export const PUBSUB_MESH_DEGREES = { D: 4, Dlo: 2, Dhi: 8, Dout: 1, Dscore: 2 }
/** Largest gossipsub message read: an announcement envelope plus the framing of an RPC. */
export const PUBSUB_MAX_MESSAGE_BYTES = MAX_ANNOUNCEMENT_BYTES + 1024
/**
 * Gossipsub score thresholds: below -10 a peer is sent no gossip, below -25 it is not published to, below -50 it
 * is graylisted (not heard). With COLLECTION_TOPIC_SCORE a peer relaying invalid announcements soon gets there.
 */
export const PUBSUB_SCORE_THRESHOLDS = { gossipThreshold: -10, publishThreshold: -25, graylistThreshold: -50 }
/**
 * Score parameters of a collection's topic: invalid announcements (P4) cost -1 times their count squared, so a
 * handful is forgiven while a flooder is graylisted within a few; a quiet mesh peer is no fault (collections
 * are mostly silent), so mesh delivery deficits are not penalised.
 */
export const COLLECTION_TOPIC_SCORE = {
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
}

/** Peer memory: peers remembered across restarts (the most recently connected; a neighbourhood's devices fit). */
export const MAX_REMEMBERED_PEERS = 64
/** Peer memory: a peer not connected for this long is forgotten (it left: no more dials nor warnings about it). */
export const MAX_REMEMBERED_AGE_MS = 14 * 24 * 3600 * 1000
/** Peer memory: largest peers.json read (MAX_REMEMBERED_PEERS peers of MAX_ADDRS addresses fit many times over). */
export const MAX_PEERS_FILE_BYTES = 256 * 1024
/** Peer memory: what was learnt is written at most this often (and when the node stops). */
export const PEERS_SAVE_DELAY_MS = 5_000
/** Reachability: a watched peer unreachable this long is warned about (log and /health). */
export const UNREACHABLE_WARN_MS = 60_000
/** Reachability: how often the watched peers are checked. */
export const REACHABILITY_CHECK_MS = 10_000

/** The listen address that asks circuit relay v2's transport to find a relay among the peers and reserve a slot on it. */
export const RELAY_RESERVATION_ADDR = '/p2p-circuit'
/**
 * Relay mode 'auto': peers at distinct IP addresses that must have seen the node at an address not its own before it
 * believes it is behind NAT. One peer could be mistaken or lie, and the verdict costs a dialable node its relay and
 * DHT server; AutoNAT likewise wants several peers. Two keeps a home with a bootstrap peer and one more reachable.
 */
export const NAT_EVIDENCE_PEERS = 2
/** Relay mode 'auto': observers remembered (the oldest is forgotten first); memory stays bounded on a busy node. */
export const MAX_NAT_OBSERVERS = 64
