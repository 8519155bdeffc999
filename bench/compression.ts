/**
 * Which compression should blocks travel under? `npm run bench:compression [-- --dir D] [--mb 16] [--json]`
 * Chunks the files under D (default: the typescript package) as an import would, packs the blocks into ~1 MiB
 * blocks messages as the block service does, and times brotli and gzip levels on them, synchronously and on
 * zlib's thread pool. `MB/s @ link` models one stream: compression overlaps sending, so the slower of the two wins.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import * as zlib from 'node:zlib'
import { cidOf } from '../src/dag/cid.js'
import { CODEC_RAW } from '../src/dag/constants.js'
import { chunkBytes } from '../src/dag/chunker/fastcdc.js'
import { getHasher } from '../src/dag/hashing.js'
import type { Block } from '../src/store/interface.js'
import { packBlocks } from '../src/sync/exchange/compression.js'
import { MAX_ENTRIES, MESSAGE_TARGET_BYTES } from '../src/sync/exchange/constants.js'
import { encodeMessage } from '../src/sync/exchange/wire.js'
import { parseBenchArgs, printTable } from './report.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const args = parseBenchArgs(process.argv.slice(2), { dir: join(root, 'node_modules', 'typescript'), mb: 16, rounds: 3 })
const limit = Number(args.mb) * 1024 * 1024
const rounds = Number(args.rounds)

function * files (dir: string): Generator<string> {
  for (const d of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
    const p = join(dir, d.name)
    if (d.isDirectory()) yield * files(p)
    else if (d.isFile()) yield p
  }
}

/** Blocks of the files under `dir`, batched as BlockService.answer() batches them. */
async function batches (dir: string): Promise<Block[][]> {
  const h = await getHasher('blake3')
  const out: Block[][] = []
  let batch: Block[] = []
  let bytes = 0
  let total = 0
  const flush = (): void => {
    if (batch.length > 0) out.push(batch)
    total += bytes
    batch = []
    bytes = 0
  }
  for (const file of files(resolve(dir))) {
    for (const chunk of chunkBytes(readFileSync(file))) {
      if (bytes + chunk.length > MESSAGE_TARGET_BYTES || batch.length >= MAX_ENTRIES) flush()
      if (total >= limit) return out
      batch.push({ cid: cidOf(h, CODEC_RAW, chunk), bytes: chunk })
      bytes += chunk.length
    }
  }
  flush()
  return out
}

interface Codec { name: string, sync: (b: Uint8Array) => Uint8Array, async: (b: Uint8Array) => Promise<Uint8Array>, inflate: (b: Uint8Array) => Uint8Array }
const brotliAsync = promisify(zlib.brotliCompress)
const gzipAsync = promisify(zlib.gzip)
const chunkSize = 256 * 1024
const codecs: Codec[] = [
  ...[0, 1, 2, 3, 4, 5].map(q => {
    const opts = (n: number): zlib.BrotliOptions => ({
      chunkSize,
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: q, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: n }
    })
    return { name: `br q${q}`, sync: (b: Uint8Array) => zlib.brotliCompressSync(b, opts(b.length)), async: async (b: Uint8Array) => await brotliAsync(b, opts(b.length)), inflate: (b: Uint8Array) => zlib.brotliDecompressSync(b) }
  }),
  ...[
    1,
    3,
    6
  ].map(level => ({ name: `gzip ${level}`, sync: (b: Uint8Array) => zlib.gzipSync(b, { chunkSize, level }), async: async (b: Uint8Array) => await gzipAsync(b, { chunkSize, level }), inflate: (b: Uint8Array) => zlib.gunzipSync(b) }))
]

/** Best of `rounds` runs of `fn` over all messages, in ms per MiB of plain message. */
async function msPerMiB (messages: Uint8Array[], fn: (b: Uint8Array) => unknown): Promise<number> {
  const plain = messages.reduce((n, m) => n + m.length, 0)
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now()
    for (const m of messages) await fn(m)
    best = Math.min(best, performance.now() - t0)
  }
  return best / (plain / 1024 / 1024)
}

const blockBatches = await batches(String(args.dir))
const messages = blockBatches.map(blocks => encodeMessage({ t: 'blocks', blocks }))
const plainBytes = messages.reduce((n, m) => n + m.length, 0)
const links = { '100Mbit': 12.5e6, '1Gbit': 125e6 }
const rows: Array<Record<string, string | number>> = []
const json: Record<string, unknown> = { dir: args.dir, messages: messages.length, plainBytes, codecs: {} }
for (const c of codecs) {
  const compressed = messages.map(m => c.sync(m))
  const ratio = compressed.reduce((n, m) => n + m.length, 0) / plainBytes
  const syncMs = await msPerMiB(messages, c.sync)
  const asyncMs = await msPerMiB(messages, c.async)
  const compressedByPlain = new Map(messages.map((m, i) => [m, compressed[i]!]))
  const inflateMs = await msPerMiB(messages, m => c.inflate(compressedByPlain.get(m)!))
  const compressMBps = 1048576 / 1e6 / (asyncMs / 1000)
  const row: Record<string, string | number> = {
    codec: c.name,
    ratio: ratio.toFixed(3),
    'sync ms/MiB': syncMs.toFixed(2),
    'async ms/MiB': asyncMs.toFixed(2),
    'inflate ms/MiB': inflateMs.toFixed(2)
  }
  for (const [name, bps] of Object.entries(links)) row[`MB/s @ ${name}`] = Math.round(Math.min(compressMBps, bps / 1e6 / ratio))
  rows.push(row)
  ;(json.codecs as Record<string, unknown>)[c.name] = { ratio, syncMs, asyncMs, inflateMs }
}
// the block service's own path: sample first, then the whole message, plain when it does not pay
const random = new Map(messages.map((m, i) => [m, blockBatches[i]!.map(b => ({ cid: b.cid, bytes: randomBytes(b.bytes.length) }))]))
const text = new Map(messages.map((m, i) => [m, blockBatches[i]!]))
const packTextMs = await msPerMiB(messages, async m => await packBlocks(text.get(m)!))
const packRandomMs = await msPerMiB(messages, async m => await packBlocks(random.get(m)!))
rows.push({ codec: 'packBlocks text', 'async ms/MiB': packTextMs.toFixed(2) }, { codec: 'packBlocks random', 'async ms/MiB': packRandomMs.toFixed(2) })
json.packBlocks = { textMs: packTextMs, randomMs: packRandomMs }
console.log(`${messages.length} messages, ${(plainBytes / 1048576).toFixed(1)} MiB from ${String(args.dir)}`)
printTable(rows, args.json === true, json)
