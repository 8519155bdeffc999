/**
 * Bitswap for IPFS peers: a node serves its blocks to Helia and Kubo nodes and fetches theirs, by @helia/bitswap,
 * under the node's upload scheduler.
 */
export { BitswapService, type BitswapServiceComponents, type BitswapServiceInit, type UploadCharge } from './bitswap-service.js'
export { bitswapSource } from './bitswap-source.js'
export { BITSWAP_PROTOCOLS, BITSWAP_UPLOAD_GROUP } from './constants.js'
