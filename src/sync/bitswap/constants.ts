/** Bitswap, for IPFS peers (Helia, Kubo): the protocol versions and the limits a node applies to them. */

/** The bitswap protocol ids @helia/bitswap answers; a peer listing one of these (identify) can be fetched from. */
export const BITSWAP_PROTOCOLS = ['/ipfs/bitswap/1.2.0', '/ipfs/bitswap/1.1.0', '/ipfs/bitswap/1.0.0']
/** The upload group all bitswap peers share in the upload scheduler: together they get one group's fair share. */
export const BITSWAP_UPLOAD_GROUP = 'bitswap'
/** Largest bitswap message read from a peer (block bytes and want lists): one maximal block and its framing. */
export const BITSWAP_MAX_INCOMING_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024
/** Blocks asked of bitswap peers at once in one fetch request (each is a want on the peer's want list). */
export const BITSWAP_WANT_CONCURRENCY = 32
/** How long one block may take to arrive over bitswap before the request gives it up (the fetcher asks again). */
export const BITSWAP_WANT_TIMEOUT_MS = 30_000
