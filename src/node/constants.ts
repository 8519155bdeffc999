/** Initial yamux window of a stream: a block-exchange answer (about 1 MiB) fits without waiting for window updates. */
export const YAMUX_WINDOW = 8 * 1024 * 1024

/** A download ranks peers by RTTs up to a minute old; a peer not measured is pinged (for at most 500 ms) behind it. */
export const RANKING_PINGS = { maxRttAgeMs: 60_000, pingTimeoutMs: 500 }

/** A ping of `peers()` gives up after this long unless the caller says otherwise. */
export const PING_TIMEOUT_MS = 2000

/**
 * libp2p pings every connection every 10 s and aborts it when a ping takes longer than 5 s (adaptive). A ping
 * stream queues behind megabytes of block data on a busy link, or waits on a CPU-starved peer: bench:propagation
 * (30 nodes on two cores) lost whole downloads that way. A dead peer is still found, only later.
 */
export const CONNECTION_MONITOR = { pingInterval: 15_000, pingTimeout: { minTimeout: 30_000, maxTimeout: 60_000 } }

/** Attempts at a bootstrap address: a busy node refuses more than a few new connections a second from one host. */
export const BOOTSTRAP_ATTEMPTS = 5

/** Wait before the n-th retry of a bootstrap address is n times this. */
export const BOOTSTRAP_BACKOFF_MS = 250

/** Addresses a node listens on unless told otherwise: every IPv4 interface, a port the system picks. */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0']

/**
 * The port a daemon listens on (every IPv4 interface) when neither `--listen` nor config.json `port` says
 * otherwise: fixed, so the addresses its neighbours remember still reach it after a restart. Not in the usual
 * service lists, and away from IPFS's 4001.
 */
export const DEFAULT_PORT = 4737

/**
 * A community node's circuit relay (relay: 'server'): it carries signalling and small transfers for homes behind
 * NAT, not bulk data. Each relayed connection is cut after RELAY_DURATION_LIMIT_MS or RELAY_DATA_LIMIT_BYTES
 * (whichever comes first; libp2p's defaults are 2 min and 128 KiB), and at most RELAY_MAX_RESERVATIONS homes hold
 * a slot at once (libp2p's default is 15).
 */
export const RELAY_DURATION_LIMIT_MS = 2 * 60_000
export const RELAY_DATA_LIMIT_BYTES = 1024 * 1024
export const RELAY_MAX_RESERVATIONS = 32
