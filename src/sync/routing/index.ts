/** Content routing among a community's nodes over libp2p's Kad-DHT (a private protocol name per community). */
export { ContentRouting, innerRoots, routingKey, type ContentRoutingComponents, type ContentRoutingInit, type DhtMode } from './content-routing.js'
export { DHT_PROTOCOL, MAX_PROVIDED_ROOTS } from './constants.js'
