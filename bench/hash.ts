/**
 * Which hash and chunker speeds does this machine reach? `npm run bench:hash [-- --mb 256] [--json]`
 * Compares our FastCDC and hashers (hash-wasm BLAKE3, node:crypto SHA-256) on the same random buffer.
 */
import { randomBytes } from 'node:crypto'
import { FastCdc } from '../src/dag/chunker/fastcdc.js'
import { getHasher } from '../src/dag/hashing.js'
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
const b3 = await getHasher('blake3')
const s2 = await getHasher('sha2-256')
const sizes = [16 * 1024]
const rows: Array<Record<string, string | number>> = [{ what: 'fastcdc 4/16/64K', MBps: Math.round(chunkMBps), note: `${chunks} chunks` }]
const result: Record<string, number> = { fastcdcMBps: chunkMBps }
for (const h of [b3, s2]) {
  for (const bs of sizes) {
    const mbps = time(() => { for (let p = 0; p < data.length; p += bs) h.digest(data.subarray(p, p + bs)) })
    rows.push({ what: `${h.name} ${bs / 1024}K blocks`, MBps: Math.round(mbps), note: '' })
    result[`${h.name}MBps`] = mbps
  }
}
printTable(rows, args.json === true, result)
