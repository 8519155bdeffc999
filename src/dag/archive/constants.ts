/** Bytes of a tar block: headers and data are padded to it. */
export const TAR_BLOCK = 512
/** Bytes of the archive's start read to recognise it and to screen compressor settings. */
export const SNIFF_BYTES = 4 * 1024 * 1024
/**
 * Bytes of the uncompressed stream a candidate compressor setting is tried on, growing until its output can be
 * judged: most settings are ruled out by the first, cheap step.
 */
export const SCREEN_STEPS = [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]
/** Bytes of the uncompressed stream inflated from the file's start for the screen. */
export const SCREEN_INPUT_BYTES = 4 * 1024 * 1024
/** Settings whose output was still empty at the end of the screen (a small archive) proven in turn, at most. */
export const MAX_PROOFS = 2
/** A pax or GNU long-name record's body, at most: more is not a name, it is an attack. */
export const MAX_META_RECORD = 1024 * 1024
/** Header bytes gathered into one segment before it is stored (thousands of empty files in a row). */
export const MAX_META_SEGMENT = 256 * 1024
/** Members listed in an archive's tree, at most (each costs a directory entry in memory until the tree is built). */
export const MAX_MEMBERS = 1_000_000
/**
 * Uncompressed bytes allowed per compressed byte past EXPANSION_FREE_BYTES: deflate reaches about 1032:1 on
 * zeros; real tarballs stay under 20:1. A gzip bomb is refused (and stored as it is) instead of expanded.
 */
export const MAX_EXPANSION_RATIO = 200
/** Uncompressed bytes always allowed, whatever the ratio. */
export const EXPANSION_FREE_BYTES = 256 * 1024 * 1024
/** Output chunk of the inflater and deflater. */
export const ZLIB_CHUNK = 64 * 1024
/** Links of a stream node, at least (unless it is the last), at most, and the digest bits that close one (average 32). */
export const GROUP_MIN = 4
export const GROUP_MAX = 128
export const GROUP_MASK = 31
/** Bytes of a zip's central directory read into memory, at most (about 200,000 entries). */
export const MAX_ZIP_DIRECTORY = 16 * 1024 * 1024
/** Directories a member's path may nest, at most: the tree is built recursively, and a pax path can be 1 MiB long. */
export const MAX_PATH_DEPTH = 256
/** Input bytes sent to the canonical zlib worker in one message. */
export const CANONICAL_INPUT_CHUNK = 256 * 1024
/**
 * A delta (the archive's bytes past what the nearest recipe reproduces) is kept when it is at most this share of the
 * archive; past it the archive is stored as it is: the delta is new bytes in every version, the raw file costs little more.
 */
export const MAX_DELTA_SHARE = 0.6
/** Archive nodes remembered as proven or verified (CID strings, most recent kept): an unverified one is rebuilt once before it is served. */
export const MAX_VERIFIED_ARCHIVES = 4096
