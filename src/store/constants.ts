/**
 * On-disk format of the store (2: block bytes keyed by sequence number, see lmdb-store.ts; 1 is migrated on open); a
 * repo written by a newer format is refused rather than misread.
 */
export const STORE_FORMAT = 2
/** Capacity when none is configured: unlimited. */
export const DEFAULT_CAPACITY = Number.POSITIVE_INFINITY
/** Blocks deleted per GC transaction, so a large collection does not hold one huge write transaction. */
export const GC_BATCH = 4096
/** Multicodec code of raw leaves (file bytes). */
export const CODEC_RAW = 0x55
/** Multicodec code of DAG-CBOR (file and directory nodes). */
export const CODEC_DAG_CBOR = 0x71
/** Multicodec code of DAG-PB (read only: links are followed in CARs from IPFS). */
export const CODEC_DAG_PB = 0x70
/** Largest block cmesh writes or accepts: 1 MiB. */
export const MAX_BLOCK_SIZE = 1024 * 1024
/** Multihash code of the identity "hash": the block's bytes are the digest, held inside the CID itself. */
export const HASH_IDENTITY = 0x00
/** Most bytes an identity CID may carry (as Kubo and boxo cap inlined blocks): larger ones are refused. */
export const MAX_IDENTITY_SIZE = 128
