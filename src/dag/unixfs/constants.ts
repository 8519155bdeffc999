/**
 * Deepest file tree read (levels of DAG-PB nodes above a leaf). Kubo's balanced layout of 174 links a node needs 5
 * levels for a terabyte; trickle DAGs grow deeper, by a few levels per doubling. Past it the file is refused.
 */
export const MAX_FILE_DEPTH = 64
/** Deepest HAMT-sharded directory read (shard levels). 64 bits of hash at 8 bits a level is 8; rehashing allows more. */
export const MAX_HAMT_DEPTH = 64
/** Largest HAMT fanout accepted: the UnixFS spec caps it at 1024 (Kubo and Helia write 256). */
export const MAX_HAMT_FANOUT = 1024
/** Multihash code of murmur3-x64-64, the only HAMT hash UnixFS defines. */
export const HAMT_HASH_MURMUR3 = 0x22
/** Mode of a UnixFS file that records none. */
export const DEFAULT_FILE_MODE = 0o644
/** Mode of a UnixFS directory that records none. */
export const DEFAULT_DIR_MODE = 0o755
/**
 * A UnixFS directory is written HAMT-sharded when its links' names and CIDs add up to more than this many bytes
 * (ipfs-unixfs-importer's `shardSplitThresholdBytes`, 'links-bytes' estimate; about 40 entries). Kubo and
 * ipfs-unixfs-importer default to 256 KiB, but a plain directory node is resent whole when one entry changes:
 * lodash's 1000-file root was one 37 KB node, a fifth of what its patch release sent.
 */
export const HAMT_SHARD_THRESHOLD = 2 * 1024
/**
 * Bits of the name's hash per HAMT level when writing: a fanout of 16 (ipfs-unixfs-importer's `shardFanoutBits`;
 * Kubo and Helia write 256; UnixFS allows any power of two, go-unixfs a multiple of 8). A changed entry resends one
 * shard a level: at 256 slots the root shard of a 1000-entry directory alone is about 11 KB, at 16 each shard is
 * under 1 KB.
 */
export const HAMT_WRITE_BITS = 4
