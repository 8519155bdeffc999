/** The block exchange protocol. */
export const BLOCKS_PROTOCOL = '/cmesh/blocks/1.0.0'
/** Largest encoded message accepted or sent; a longer length prefix closes the stream before any byte is read. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024
/** Entries (CIDs or blocks) in one message: small blocks travel many to a message, never one per round trip. */
export const MAX_ENTRIES = 1024
/** Block bytes packed into one message before it is sent. */
export const MESSAGE_TARGET_BYTES = 1024 * 1024
