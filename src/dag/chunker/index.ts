/**
 * Content-defined chunking: FastCDC, and the pipeline that cuts and hashes large files on worker threads while the
 * importer writes (read buffers recycled once their chunks are stored).
 */
export { FastCdc, chunkBytes, chunkStream, chunkBatches, type ChunkerOptions } from './fastcdc.js'
export { cutAndHash, allocReadBuffer, dropSpareReadBuffers, recycleReadBuffer, type CutAndHashOptions, type HashedBatch } from './chunk-pipeline.js'
