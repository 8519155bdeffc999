/**
 * The peer layer: node identity, the /cmesh/blocks/1.0.0 block exchange, and fetching a DAG from sources.
 */
export { BLOCKS_PROTOCOL, MAX_MESSAGE_BYTES, MAX_ENTRIES } from './constants.js'
export { BlockService, type BlockServiceOptions, type PeerStats } from './block-service.js'
export { fetchDag, type BlockSource, type FetchOptions, type FetchResult, type FetchProgressEvent } from './fetcher.js'
export { storeSource } from './store-source.js'
export { loadOrCreateIdentity, IDENTITY_FILENAME } from './identity.js'
export { encodeMessage, decodeMessage, ProtocolError, type Message } from './wire.js'
export { announceable, isLoopback } from './addresses.js'
export { startNeighbourhood, type SimNodeSpec, type Behaviour, type Neighbourhood } from './simulation.js'
export { startGateway, type Gateway, type GatewayInit, type GatewayComponents } from './gateway.js'
export { gatewaySource, type GatewaySource, type GatewaySourceOptions } from './gateway-source.js'
export { rangeMirrorSource, type RangeMirrorOptions, type RangeMirrorSource, type RangeMirrorStats } from './range-mirror.js'
export { Releases, readBundle, DEFAULT_RELEASE_LIFETIME_MS, type PublishOptions, type PublishResult, type UpdateOptions, type UpdateResult, type UpdateProgressEvent, type ReleaseComponents } from './releases.js'
export { ReleaseExchange, RELEASE_PROTOCOL } from './release-exchange.js'
