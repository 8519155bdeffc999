/**
 * Block exchange: the /cmesh/blocks protocol's messages and framing, compression, the block server that answers
 * peers under the upload scheduler, and the buffer budget shared by all its streams.
 */
export { BLOCKS_PROTOCOL, BLOCKS_PROTOCOL_V1, BLOCKS_PROTOCOLS, MAX_MESSAGE_BYTES, MAX_ENTRIES, BUFFER_BUDGET_BYTES } from './constants.js'
export { BlockService, type BlockServiceOptions, type PeerStats, type PeerFairness } from './block-service.js'
export { BufferBudget, BudgetAccount, type BufferBudgetOptions, type FrameBudget } from './buffer-budget.js'
export { encodeMessage, encodeBinaryBlocks, decodeMessage, ProtocolError, MAX_CID_BYTES, type Message } from './wire.js'
export {
  LeafSet,
  encodeHoldings,
  decodeHoldings,
  encodedLengths,
  MAX_HOLDINGS_LEAVES,
  MAX_HOLDINGS_MESSAGE_BYTES,
  type HoldingsMessage
} from './holdings.js'
export { HoldingsTable, type HoldingsTableOptions } from './holdings-table.js'
export { HoldingsService, type HoldingsServiceOptions, type HoldingsCounts } from './holdings-service.js'
export { HOLDINGS_PROTOCOL } from './constants.js'
