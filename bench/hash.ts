/**
 * Which hash and chunker speeds does this machine reach? `npm run bench:hash [-- --mb 256] [--json]`
 * Compares our FastCDC and the hashers on the same random buffer: every BLAKE3 implementation that loads here
 * (native @napi-rs/blake-hash, hash-wasm's WebAssembly) and node:crypto SHA-256, for 16 KiB, 256 KiB and 1 MiB blocks.
 * (`blake3` and `@c4312/blake3-native` on the registry do not install: their dependencies' versions are missing.)
 */
import { randomBytes } from 'node:crypto'
import { FastCdc } from '../src/dag/chunker/fastcdc.js'
import { blake3Implementations, getHasher, type BlockHasher } from '../src/dag/hashing.js'
import { printTable, parseBenchArgs } from './report.js'

const args = parseBenchArgs(process.argv.slice(2), { mb: 256 })
const size = Number(args.mb) * 1024 * 1024
const data = randomBytes(size)

function time (fn: () => void, rounds = 3): number {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint()
    fn()
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9)
  }
  return size / 1e6 / best
}

const cdc = new FastCdc()
let chunks = 0
const chunkMBps = time(() => {
  chunks = 0
  for (let pos = 0; pos < data.length;) { pos += cdc.cut(data, pos, data.length); chunks++ }
})
const inUse = await getHasher('blake3') as BlockHasher & { implementation: string }
const hashers: Array<{ label: string, key: string, h: BlockHasher, used: boolean }> = [
  ...(await blake3Implementations()).map(h => ({ label: `blake3 (${h.implementation})`, key: `blake3${h.implementation === 'native' ? 'Native' : 'Wasm'}`, h, used: h.implementation === inUse.implementation })),
  { label: 'sha2-256 (node:crypto)', key: 'sha256', h: await getHasher('sha2-256'), used: false }
]
const sizes = [16 * 1024, 256 * 1024, 1024 * 1024]
const rows: Array<Record<string, string | number>> = [{ what: 'fastcdc 4/16/64K', MBps: Math.round(chunkMBps), note: `${chunks} chunks` }]
const result: Record<string, number> = { fastcdcMBps: chunkMBps }
for (const { label, key, h, used } of hashers) {
  for (const bs of sizes) {
    const mbps = time(() => { for (let p = 0; p < data.length; p += bs) h.digest(data.subarray(p, p + bs)) })
    rows.push({ what: `${label} ${bs / 1024}K blocks`, MBps: Math.round(mbps), note: used ? 'in use for blake3' : '' })
    result[`${key}${bs / 1024}KMBps`] = mbps
  }
}
const native = result.blake3Native16KMBps
if (native !== undefined) result.nativeOverWasm16K = native / result.blake3Wasm16KMBps!
printTable(rows, args.json === true, result)
