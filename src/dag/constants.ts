/** Multicodec code of raw leaves (file bytes). */
export const CODEC_RAW = 0x55
/** Multicodec code of DAG-CBOR (file and directory nodes). */
export const CODEC_DAG_CBOR = 0x71
/** Multicodec code of DAG-PB (read only: links are followed in CARs from IPFS). */
export const CODEC_DAG_PB = 0x70
/** Multihash code of BLAKE3 with a 32-byte digest. */
export const HASH_BLAKE3 = 0x1e
/** Multihash code of SHA-256. */
export const HASH_SHA2_256 = 0x12

/** Largest block cmesh writes or accepts: 1 MiB. */
export const MAX_BLOCK_SIZE = 1024 * 1024

/**
 * Default FastCDC sizes, chosen by `npm run bench:chunk` on real package version pairs (table in README):
 * 2/8/64 KiB saves 98.5 % on typescript 5.8.2 -> 5.8.3 and 40 % on 5.8.3 -> 5.9.2 where 16/64/256 KiB saves
 * 95.5 % and 8 %. Averages of 2 KiB come closer still to rsync but cost four times the blocks, and every block
 * is one LMDB insert (about 6 us here): ingest would fall below 200 MB/s.
 */
export const DEFAULT_MIN_CHUNK = 2 * 1024
/** Default FastCDC average (target) chunk size. */
export const DEFAULT_AVG_CHUNK = 8 * 1024
/** Default FastCDC maximum chunk size. */
export const DEFAULT_MAX_CHUNK = 64 * 1024
/** Normalization level of FastCDC: mask bits added below the average and removed above it. */
export const DEFAULT_NORMALIZATION = 2

/**
 * Links in one file node before the tree grows a level (about 46 bytes a link, so nodes of about 3 KiB): a
 * changed chunk resends its parent nodes, and on a small patch 256-link nodes were a third of the bytes sent.
 */
export const DEFAULT_FILE_FANOUT = 64
/** Entries in one directory node before the directory is split into parts. */
export const DEFAULT_DIR_FANOUT = 1024
/** Encoded bytes of entries in one directory node before it is split (long symlink targets). */
export const DIR_NODE_TARGET_BYTES = 256 * 1024

/** Bytes read from a file at a time while importing. */
export const READ_SIZE = 1024 * 1024
