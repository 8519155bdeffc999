/** Codecs and the block size limit are the store's (it walks links and refuses large blocks). */
export { CODEC_RAW, CODEC_DAG_CBOR, CODEC_DAG_PB, MAX_BLOCK_SIZE } from '../store/constants.js'
/** Multihash code of BLAKE3 with a 32-byte digest. */
export const HASH_BLAKE3 = 0x1e
/** Multihash code of SHA-256. */
export const HASH_SHA2_256 = 0x12

/**
 * Default FastCDC sizes (FastCdc without options), and the importer's for files from SMALL_FILE_BYTES to under
 * LARGE_FILE_BYTES: code, text and documents, which change by a few lines at a
 * time. Chosen by `npm run bench:chunk` on real package version pairs (table in README): 1/2/16 KiB saves 99.5 %
 * on typescript 5.8.2 -> 5.8.3 (1.27x rsync's literal data) and 95.4 % on prettier 3.5.2 -> 3.5.3, where
 * 2/8/64 KiB saved 98.7 % (3.56x rsync) and 94.5 %.
 */
export const DEFAULT_MIN_CHUNK = 1024
/** Default FastCDC average (target) chunk size (see DEFAULT_MIN_CHUNK). */
export const DEFAULT_AVG_CHUNK = 2 * 1024
/** Default FastCDC maximum chunk size (see DEFAULT_MIN_CHUNK). */
export const DEFAULT_MAX_CHUNK = 16 * 1024

/**
 * Files under this many bytes are cut with SMALL_FILE_CHUNKER: most files of a package. A one-byte edit resends
 * the chunk around it and the file nodes above it; rsync resends a block of max(700, sqrt(size)) bytes, under
 * 1 KiB for any file under 1 MiB. On pairs of popular npm packages nothing was tuned for (`bench:update -- --wide`,
 * table in docs/benchmarks.md), 1/2/16 KiB chunks sent 1.4-3.6x rsync's literal bytes in leaves alone.
 */
export const SMALL_FILE_BYTES = 1024 * 1024
/** FastCDC sizes for files under SMALL_FILE_BYTES: 512/1024/8192 bytes. */
export const SMALL_FILE_CHUNKER = { minSize: 512, avgSize: 1024, maxSize: 8 * 1024 } as const

/**
 * Files of at least this many bytes are cut with LARGE_FILE_CHUNKER. Nothing in the package pairs measured comes
 * near it (typescript's largest file is 9 MB); above it are media, archives, disk images and big binaries,
 * where every block's fixed cost (an LMDB insert, a CID, a link) matters more than a few KiB of dedup. The rule
 * depends on the content's length alone, so a file gets the same CID however it is imported.
 */
export const LARGE_FILE_BYTES = 16 * 1024 * 1024
/**
 * FastCDC sizes for large files: 8/32/128 KiB (casync uses 16/64/256, restic and borg larger still). Measured
 * here on a 256 MiB random file, three alternating rounds on a loaded machine: 2/8/64 KiB 151-187 MB/s,
 * 4/16/64 225-295, 8/32/128 280-359.
 */
export const LARGE_FILE_CHUNKER = { minSize: 8 * 1024, avgSize: 32 * 1024, maxSize: 128 * 1024 } as const

/** Normalization level of FastCDC: mask bits added below the average and removed above it. */
export const DEFAULT_NORMALIZATION = 2

/**
 * Links in one file node before the tree grows a level (about 46 bytes a link, so nodes of about 740 bytes): a
 * changed chunk resends its parent nodes. 256-link nodes were a third of the bytes a small patch sent; on the
 * wide set (`bench:update -- --wide`) 64-link nodes still sent 1 KB a changed file of react-dom 18.3.0 -> 18.3.1
 * (a one-byte edit in each), 16 links halve that for 5 % more blocks (8 saved a few % more for 14 %).
 */
export const DEFAULT_FILE_FANOUT = 16
/** Entries in one directory node (and parts in one parts node) at most: a part is cut here whatever the names. */
export const DEFAULT_DIR_FANOUT = 1024
/**
 * A directory whose entries encode to more than this many bytes (estimated, entryEncodedSize: about 40 entries) is
 * split into parts. A directory node is resent whole when one entry changes: lodash's 1000-file root was one 40 KB
 * node, a third of what its patch release sent.
 */
export const DIR_SPLIT_BYTES = 4 * 1024
/**
 * Average entries in a part of a split directory, and parts in a parts node below the root. Parts are cut
 * content-defined, after an entry whose name hashes to a multiple of this (nodes.ts endsPart: names only, so
 * adding, removing or changing an entry touches its own part and one parts node a level, never its neighbours).
 */
export const DIR_PART_ENTRIES = 8
/** Parts a split directory's root node holds at most before the parts are grouped a level up. */
export const DIR_ROOT_PARTS = 16
/** Encoded bytes of entries in one directory node before it is split (long symlink targets). */
export const DIR_NODE_TARGET_BYTES = 256 * 1024

/** Bytes read from a file at a time while importing. */
export const READ_SIZE = 1024 * 1024
