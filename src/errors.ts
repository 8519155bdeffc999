/**
 * Every error cmesh raises carries a stable `code`; callers and tests branch on it, never on message text.
 */
export class CmeshError extends Error {
  readonly code: string

  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A block the operation needs is not in the store. */
export class BlockNotFoundError extends CmeshError {
  readonly cid: string
  constructor (cid: string) {
    super('ERR_BLOCK_NOT_FOUND', `block ${cid} is not in the store`)
    this.cid = cid
  }
}

/** A block's bytes do not hash to its CID. */
export class BlockCorruptError extends CmeshError {
  readonly cid: string
  constructor (cid: string, where = 'the store') {
    super('ERR_BLOCK_CORRUPT', `block ${cid} from ${where} does not match its CID`)
    this.cid = cid
  }
}

/** A block is larger than the format allows. */
export class BlockTooLargeError extends CmeshError {
  constructor (size: number, max: number) {
    super('ERR_BLOCK_TOO_LARGE', `block of ${size} bytes exceeds the ${max} byte limit`)
  }
}

/** The store's capacity is exhausted even after garbage collection of unpinned blocks. */
export class StoreFullError extends CmeshError {
  constructor (needed: number, capacity: number, used: number) {
    super('ERR_STORE_FULL', `store is full: ${needed} more bytes needed, ${used} of ${capacity} bytes used by pinned or in-progress data`)
  }
}

/** The repository cannot be opened (missing permissions, not a cmesh repo, newer format). */
export class RepoError extends CmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_REPO_UNREADABLE', message, options)
  }
}

/** The repository's config.json sets a field to something it cannot mean. */
export class ConfigError extends CmeshError {
  constructor (message: string) {
    super('ERR_CONFIG_INVALID', message)
  }
}

/** The store was used after close(). */
export class StoreClosedError extends CmeshError {
  constructor () {
    super('ERR_STORE_CLOSED', 'the store is closed')
  }
}

/** A string is not a valid CID, or names a codec or hash cmesh does not support. */
export class InvalidCidError extends CmeshError {
  constructor (input: string, reason: string) {
    super('ERR_INVALID_CID', `invalid CID ${JSON.stringify(input.length > 80 ? input.slice(0, 80) + '…' : input)}: ${reason}`)
  }
}

/** An identity CID (multihash 0x00) carries more inline bytes than cmesh accepts. */
export class IdentityTooLargeError extends CmeshError {
  readonly cid: string
  constructor (cid: string, size: number, max: number) {
    super('ERR_IDENTITY_TOO_LARGE', `identity CID ${cid.length > 80 ? cid.slice(0, 80) + '…' : cid} inlines ${size} bytes, over the ${max} byte limit`)
    this.cid = cid
  }
}

/** A DAG node does not follow the cmesh schema (decoded strictly). */
export class InvalidNodeError extends CmeshError {
  constructor (cid: string, reason: string) {
    super('ERR_INVALID_NODE', `node ${cid} is malformed: ${reason}`)
  }
}

/** A hash algorithm cmesh does not support. */
export class UnsupportedHashError extends CmeshError {
  constructor (what: string | number) {
    super('ERR_UNSUPPORTED_HASH', `unsupported hash ${typeof what === 'number' ? '0x' + what.toString(16) : JSON.stringify(what)} (use blake3 or sha2-256)`)
  }
}

/** An option has a value outside what the operation accepts. */
export class InvalidOptionError extends CmeshError {
  constructor (message: string) {
    super('ERR_INVALID_OPTION', message)
  }
}

/** A path given for import does not exist or cannot be read. */
export class PathNotFoundError extends CmeshError {
  constructor (path: string, options?: { cause?: unknown }) {
    super('ERR_PATH_NOT_FOUND', `no such file or directory: ${path}`, options)
  }
}

/** A name inside a directory DAG is unsafe to write to disk (`..`, `/`, NUL, empty, absolute). */
export class UnsafePathError extends CmeshError {
  constructor (name: string, reason: string) {
    super('ERR_UNSAFE_PATH', `refusing entry name ${JSON.stringify(name)}: ${reason}`)
  }
}

/**
 * Export would overwrite something that exists, or write through a symlink. `overwritable`: the overwrite option
 * would replace what is in the way (a file or symlink; never a directory, never by writing through a symlink).
 */
export class ExportConflictError extends CmeshError {
  readonly path: string
  readonly overwritable: boolean
  constructor (path: string, reason: string, overwritable = false) {
    super('ERR_EXPORT_CONFLICT', `cannot write ${path}: ${reason}`)
    this.path = path
    this.overwritable = overwritable
  }
}

/** A requested path inside a DAG does not exist, or is the wrong kind (a file where a directory was needed). */
export class NotInDagError extends CmeshError {
  constructor (message: string) {
    super('ERR_NOT_IN_DAG', message)
  }
}

/** A pinned block cannot be deleted; unpin its roots first. */
export class BlockPinnedError extends CmeshError {
  constructor (cid: string) {
    super('ERR_BLOCK_PINNED', `block ${cid} is referenced by a pinned root`)
  }
}

/** A CAR file is malformed or holds a block whose bytes do not match its CID. */
export class InvalidCarError extends CmeshError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_CAR', message, options)
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends CmeshError {
  constructor (message = 'the operation was aborted') {
    super('ERR_ABORTED', message)
  }
}

/** A chunk worker thread failed or rejected a job; the import is abandoned, nothing half-recorded. */
export class ChunkWorkerError extends CmeshError {
  constructor (message: string) {
    super('ERR_CHUNK_WORKER', message)
  }
}

/** An input buffer handed to the chunk pipeline was used again after it moved to a worker. */
export class DetachedInputError extends CmeshError {
  constructor (message: string) {
    super('ERR_DETACHED_INPUT', message)
  }
}

/** A path given for import is neither a regular file nor a directory (a socket, a device). */
export class UnsupportedFileTypeError extends CmeshError {
  constructor (path: string) {
    super('ERR_UNSUPPORTED_FILE_TYPE', `${path} is not a regular file or directory`)
  }
}

/** A DAG could not be fetched: no source had some blocks, or every source failed. Names what was tried. */
export class FetchFailedError extends CmeshError {
  readonly tried: string[]
  constructor (message: string, tried: string[]) {
    super('ERR_FETCH_FAILED', `${message}${tried.length > 0 ? ` (tried: ${tried.join(', ')})` : ' (no sources)'}`)
    this.tried = tried
  }
}

/** An HTTP mirror (a trustless gateway) failed a request: an HTTP error, a network error, a stall, an oversized body. */
export class MirrorError extends CmeshError {
  readonly url: string
  /** The HTTP status, when the mirror answered at all. */
  readonly status: number | undefined
  constructor (url: string, message: string, options: { status?: number, cause?: unknown } = {}) {
    super('ERR_MIRROR', `mirror ${url}: ${message}`, { cause: options.cause })
    this.url = url
    this.status = options.status
  }
}

/** A release manifest is unsigned, or its signature does not verify against the key it names. */
export class BadSignatureError extends CmeshError {
  constructor (message: string) {
    super('ERR_BAD_SIGNATURE', message)
  }
}

/** A release is signed by a key not trusted for its name (`cmesh trust add <name> <key>`). */
export class UntrustedKeyError extends CmeshError {
  constructor (name: string, key: string) {
    super('ERR_UNTRUSTED_KEY', `release ${name} is signed by ${key}, which is not trusted for ${name}`)
  }
}

/** A release's sequence number is not newer than the one held for its name: a rollback. */
export class RollbackError extends CmeshError {
  constructor (name: string, offered: number, held: number) {
    super('ERR_ROLLBACK', `release ${name} sequence ${offered} is not newer than the ${held} already held (rollback refused)`)
  }
}

/** A release manifest is past its expiry: someone may be freezing this client on an old version. */
export class ExpiredError extends CmeshError {
  constructor (name: string, expires: number) {
    super('ERR_EXPIRED', `release ${name} expired at ${new Date(expires).toISOString()} (freeze refused)`)
  }
}

/** A manifest, or the data it describes, is larger than allowed or declared: endless data. */
export class TooLargeError extends CmeshError {
  constructor (message: string) {
    super('ERR_TOO_LARGE', message)
  }
}

/** What was fetched does not match what the signed manifest says (name, root, size, dependencies). */
export class MixAndMatchError extends CmeshError {
  constructor (message: string) {
    super('ERR_MIX_AND_MATCH', message)
  }
}

/** A release manifest, key or bundle is malformed. */
export class InvalidManifestError extends CmeshError {
  constructor (message: string) {
    super('ERR_INVALID_MANIFEST', message)
  }
}

/** No release of that name is known here or offered by any peer or source. */
export class ReleaseNotFoundError extends CmeshError {
  constructor (name: string, where: string) {
    super('ERR_RELEASE_NOT_FOUND', `no release of ${name} found (${where})`)
  }
}

/** A publisher key file or key text is unusable. */
export class KeyError extends CmeshError {
  constructor (message: string) {
    super('ERR_KEY', message)
  }
}

/** A DAG holds more bytes or blocks than the fetch allowed (`maxBytes`, `maxBlocks`): endless or padded data is refused. */
export class DagTooLargeError extends CmeshError {
  readonly limit: number
  readonly unit: 'bytes' | 'blocks'
  constructor (cid: string, unit: 'bytes' | 'blocks', limit: number) {
    super('ERR_DAG_TOO_LARGE', `DAG ${cid} holds more than the ${limit} ${unit} allowed`)
    this.limit = limit
    this.unit = unit
  }
}

/** A collection's governance document is malformed or inconsistent. */
export class GovernanceError extends CmeshError {
  constructor (message: string) {
    super('ERR_GOVERNANCE', message)
  }
}

/** No collection of that name has been joined here (`cmesh collection join <file>`). */
export class CollectionNotFoundError extends CmeshError {
  constructor (name: string) {
    super('ERR_COLLECTION_NOT_FOUND', `collection ${JSON.stringify(name)} is not joined here (cmesh collection join <file>)`)
  }
}

/** A collection announcement is malformed: not canonical DAG-CBOR, missing or extra fields, values out of range. */
export class InvalidAnnouncementError extends CmeshError {
  constructor (message: string) {
    super('ERR_INVALID_ANNOUNCEMENT', message)
  }
}

/** An announcement is signed by a key the collection's governance does not allow to do that. */
export class UnauthorizedError extends CmeshError {
  constructor (message: string) {
    super('ERR_UNAUTHORIZED', message)
  }
}

/** An announcement is past its expiry (or dated too far in the future). */
export class AnnouncementExpiredError extends CmeshError {
  constructor (message: string) {
    super('ERR_ANNOUNCEMENT_EXPIRED', message)
  }
}

/** An announcement's sequence is not newer than the one held for its resource: a replay. */
export class ReplayError extends CmeshError {
  constructor (message: string) {
    super('ERR_REPLAY', message)
  }
}

/** A publisher is over one of the collection's quotas (announcements an hour, bytes a day, resource size). */
export class QuotaError extends CmeshError {
  constructor (message: string) {
    super('ERR_QUOTA', message)
  }
}

/** No resource of that publisher and id is in force in the collection. */
export class ResourceNotFoundError extends CmeshError {
  constructor (collection: string, id: string) {
    super('ERR_RESOURCE_NOT_FOUND', `no resource ${JSON.stringify(id)} in collection ${collection}`)
  }
}

// --- community cache (src/sync/cache/url-cache.ts) ---

/** A URL the community cache cannot take: not absolute http(s), or too long. */
export class InvalidUrlError extends CmeshError {
  constructor (url: string, reason: string) {
    super('ERR_INVALID_URL', `invalid URL ${JSON.stringify(url.length > 120 ? url.slice(0, 120) + '…' : url)}: ${reason}`)
  }
}

/**
 * A destination this node may not connect to for the one who asked: loopback, link-local, this machine's own
 * addresses, or a private range that is not allowed (checked on the resolved address, not the name).
 */
export class ForbiddenDestinationError extends CmeshError {
  readonly host: string
  readonly address: string | undefined
  constructor (host: string, address: string | undefined, reason: string) {
    super('ERR_FORBIDDEN_DESTINATION', `${host}${address !== undefined && address !== host ? ` (${address})` : ''} is not a permitted destination: ${reason}`)
    this.host = host
    this.address = address
  }
}

/** A control API request without the repository's token, or from a web page (Host or Origin not this machine). */
export class ApiAuthError extends CmeshError {
  constructor (reason: string) {
    super('ERR_API_AUTH', reason)
  }
}

/** The origin cannot be reached (offline) and no member of the community holds the URL's content. */
export class UrlUnavailableError extends CmeshError {
  readonly url: string
  constructor (url: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_URL_UNAVAILABLE', `${url} is not cached here or by any peer, and the origin cannot be reached: ${reason}`, options)
    this.url = url
  }
}

/** The origin answered with a status the cache does not store (a 404, a 500, a redirect). */
export class OriginStatusError extends CmeshError {
  readonly url: string
  readonly status: number
  constructor (url: string, status: number) {
    super('ERR_ORIGIN_STATUS', `${url}: the origin answered ${status}`)
    this.url = url
    this.status = status
  }
}

/** A URL claim from a peer does not verify: bad signature, malformed, or bytes that do not match what it says. */
export class BadClaimError extends CmeshError {
  constructor (message: string) {
    super('ERR_BAD_CLAIM', message)
  }
}

// --- analytics (src/analytics) ---

/** The `analytics` key of the repository's policy.json is malformed. */
export class AnalyticsPolicyError extends CmeshError {
  constructor (message: string) {
    super('ERR_ANALYTICS_POLICY', message)
  }
}

/** A release would spend more privacy budget (epsilon) than the period or the node's lifetime allows. */
export class PrivacyBudgetError extends CmeshError {
  constructor (message: string) {
    super('ERR_PRIVACY_BUDGET', message)
  }
}

/** An analytics aggregate from the network is malformed, oversized or out of range. */
export class InvalidReportError extends CmeshError {
  constructor (message: string) {
    super('ERR_INVALID_REPORT', message)
  }
}

/** A secure aggregation round that cannot go on: below its threshold, a foreign cohort, a share that does not decrypt. */
export class SecureAggregationError extends CmeshError {
  constructor (message: string) {
    super('ERR_SECURE_AGGREGATION', message)
  }
}

// --- fairness (src/policy/fairness/policy-file.ts) ---

/** The repository's policy.json (fairness, priorities) is not valid. */
export class PolicyFileError extends CmeshError {
  constructor (message: string) {
    super('ERR_POLICY_FILE', message)
  }
}

// --- block protocol buffers (src/sync/exchange/buffer-budget.ts) ---

/** A peer's block-protocol stream was given up: the node's buffer budget is spent and the peer holds more than its share. */
export class BufferBudgetError extends CmeshError {
  constructor (message: string) {
    super('ERR_BUFFER_BUDGET', message)
  }
}

// --- archives (src/dag/archive/) ---

/**
 * An archive cannot be stored member by member: a bad gzip or tar header, a size past the caps (a gzip bomb), no
 * compressor setting that rebuilds it exactly. Importing falls back to storing the bytes as they are.
 */
export class ArchiveError extends CmeshError {
  declare readonly code: 'ERR_ARCHIVE_INVALID' | 'ERR_ARCHIVE_TOO_LARGE' | 'ERR_ARCHIVE_NOT_REPRODUCIBLE'
}

/** An archive rebuilt from its members and recipe does not hash to the SHA-256 its node records (another zlib?). */
export class ArchiveRebuildError extends CmeshError {
  constructor (cid: string) {
    super('ERR_ARCHIVE_REBUILD', `archive ${cid} rebuilt from its members does not match its recorded SHA-256 (a different zlib build?)`)
  }
}

/** A block delta (src/sync/delta) that does not decode within its limits, or whose result is not the block asked for. */
export class BadDeltaError extends CmeshError {
  constructor (reason: string) {
    super('ERR_BAD_DELTA', `bad block delta: ${reason}`)
  }
}
