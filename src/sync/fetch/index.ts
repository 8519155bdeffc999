/**
 * Fetching a DAG from sources: the fetcher, and the sources it draws on (peers, this store, IPFS gateways,
 * plain-HTTP range mirrors).
 */
export { fetchDag, type BlockSource, type FetchOptions, type FetchResult, type FetchProgressEvent, type RequestOptions, type PeerSources } from './fetcher.js'

export { storeSource } from './store-source.js'
export { gatewaySource, type GatewaySource, type GatewaySourceOptions } from './gateway-source.js'
export { rangeMirrorSource, type RangeMirrorOptions, type RangeMirrorSource, type RangeMirrorStats } from './range-mirror.js'
