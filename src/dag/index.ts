/**
 * The content-addressed core: FastCDC chunking, hashing, the file/directory DAG, verified export and CAR.
 */
export { DEFAULT_AVG_CHUNK, DEFAULT_MAX_CHUNK, DEFAULT_MIN_CHUNK, MAX_BLOCK_SIZE, CODEC_RAW, CODEC_DAG_CBOR, HASH_BLAKE3, HASH_SHA2_256 } from './constants.js'
export { FastCdc, chunkBytes, chunkStream, chunkBatches, type ChunkerOptions } from './chunker/index.js'
export { getHasher, type BlockHasher, type HashName } from './hashing.js'
export { cidOf, parseCid } from './cid.js'
export { decodeNode, type DagNode, type DirEntry, type FileNode, type DirNode, type EntryKind } from './nodes.js'
export { blockLinks } from './links.js'
export { importPath, importBytes, importStream, type ImportOptions, type ImportFormat, type ImportResult, type ImportProgressEvent } from './importer.js'
export type { ArchiveReport } from './archive/index.js'
export {
  cat,
  ls,
  stat,
  resolvePath,
  exportTo,
  type CatOptions,
  type ExportOptions,
  type ExportProgressEvent,
  type StatResult,
  type ReadStore
} from './exporter.js'
export { exportCar, importCar, walkDag, carStream, type CarOptions, type CarExportResult, type CarImportResult, type CarProgressEvent } from './car.js'
export { verifyBlock, getVerified, verifyStore, type VerifyOptions, type VerifyReport, type VerifyProgressEvent } from './verify.js'
export { chunkLocations, locationTotals, type ChunkLocation, type ChunkLocationOptions, type LocationTotals } from './locations.js'
