/**
 * HTTP servers of the node: the IPFS trustless gateway.
 */
export { startGateway, type Gateway, type GatewayInit, type GatewayComponents } from './gateway.js'
