/** Content routing among a community's nodes over libp2p's Kad-DHT. */

/** The DHT protocol of cmesh communities: a private name, so it never mixes with the public IPFS DHT. */
export const DHT_PROTOCOL = '/cmesh/kad/1.0.0'
/** Pinned roots a node provides at start, newest first: a large store does not announce everything it ever pinned. */
export const MAX_PROVIDED_ROOTS = 1024
/** Providers dialled when a fetch finds no holder among its connections. */
export const MAX_ROUTED_PROVIDERS = 3
/**
 * How long a lookup goes on looking for more providers once one is connected: the fetch starts then, rather than
 * when the DHT query ends (a query waits at least five seconds for each peer that does not answer).
 */
export const ROUTED_GRACE_MS = 500
/** How long a provider lookup may take before the fetch gives up on the DHT. */
export const FIND_PROVIDERS_TIMEOUT_MS = 10_000
/** How long one provide may take (the DHT stores the record at the closest peers it reaches meanwhile). */
export const PROVIDE_TIMEOUT_MS = 30_000
/**
 * How long a node's addresses must stay unchanged before it provides its roots again with the new ones (a relay
 * reservation, a UPnP mapping): the records the DHT holds carry the addresses of their provide.
 */
export const REPROVIDE_SETTLE_MS = 1000
