/**
 * Update diffing on packages nothing was tuned for: `npm run bench:update -- --wide [--tuned] [--only lodash,three]
 * [--chunker min/avg/max] [--fanout n] [--network] [--json]` (pairs: WIDE_PAIRS in bench/packages.ts; --chunker in
 * KiB and --fanout set the FastCDC sizes for every file and the file fanout instead of the defaults, to try others;
 * --tuned measures bench:update's default pairs, which the defaults were chosen on, the same way). For each pair,
 * the new version imported after the old one into a fresh store, in cmesh's format and in UnixFS: the bytes a
 * holder of the old version lacks, beside rsync's literal data (`rsync --no-whole-file --checksum` from a copy of
 * old to new), and what a holder receives with block deltas against the old version's blocks (src/sync/delta:
 * offline, the protocol's encoder, pairing and framing, bench/update-delta.ts; with --network also measured between
 * two nodes on loopback, a release update, compressed); then the bytes lacked by block kind
 * (bench/update-account.ts). Targets: within 1.5x of rsync's literal data on every pair, at least 95 % saved on
 * every patch release, both formats.
 */
import type { ImportOptions } from '../src/dag/importer.js'
import type { BenchArgs } from './report.js'
import { formatTable } from './report.js'
import { accountUpdate, BLOCK_KINDS, type UpdateAccount } from './update-account.js'
import { networkUpdate, type NetworkUpdate } from './network-update.js'
import { haveRsync, resolveSide, rsyncLiteralBytes, TUNED_PAIRS, WIDE_PAIRS, type WidePair } from './packages.js'

const RSYNC_RATIO_TARGET = 1.5
const PATCH_SAVED_TARGET = 95

interface WideResult {
  pair: string
  kind: string
  release: 'patch' | 'minor'
  newSize: number
  rsyncLiteralBytes: number | null
  cmesh: UpdateAccount
  unixfs: UpdateAccount
  /** With --network: the update between two nodes on loopback (a release update, block deltas on), per format. */
  network?: { cmesh: NetworkUpdate, unixfs: NetworkUpdate }
}

const saved = (bytes: number, size: number): number => size === 0 ? 0 : 100 * (1 - bytes / size)
const pct = (bytes: number | null, size: number): string => bytes === null ? 'n/a' : saved(bytes, size).toFixed(1) + ' %'
const ratio = (a: number, b: number | null): number | null => b === null ? null : b === 0 ? (a === 0 ? 1 : Number.POSITIVE_INFINITY) : a / b
const fmt = (r: number | null): string => r === null ? 'n/a' : r.toFixed(2)
const label = (p: WidePair): string => {
  const at = p.old.lastIndexOf('@')
  return `${p.old.slice(0, at)} ${p.old.slice(at + 1)} -> ${p.new.slice(p.new.lastIndexOf('@') + 1)}`
}

/** Whether a pair meets the targets in one format. */
function meets (r: WideResult, a: UpdateAccount, bytes = a.newBytes): boolean {
  const q = ratio(bytes, r.rsyncLiteralBytes)
  const ratioOk = q === null || q <= RSYNC_RATIO_TARGET
  return ratioOk && (r.release !== 'patch' || saved(bytes, r.newSize) >= PATCH_SAVED_TARGET)
}
/** Whether a pair meets the targets in one format with block deltas. */
const meetsDelta = (r: WideResult, a: UpdateAccount): boolean => meets(r, a, a.delta.received)

export async function wideTable (args: BenchArgs): Promise<void> {
  const only = typeof args.only === 'string' ? args.only.split(',') : undefined
  // --tuned: the same table for the pairs the defaults were chosen on (bench:update's default pairs)
  const set = args.tuned === true ? TUNED_PAIRS : WIDE_PAIRS
  const pairs = set.filter(p => only === undefined || only.some(o => p.old.includes(o)))
  if (!haveRsync()) console.error('rsync not found: the rsync columns show n/a (null in the JSON)')
  const options: Pick<ImportOptions, 'chunker' | 'fileFanout'> = {}
  if (typeof args.chunker === 'string') {
    const [minSize, avgSize, maxSize] = args.chunker.split('/').map(v => Math.round(Number(v) * 1024))
    options.chunker = { minSize, avgSize, maxSize }
  }
  if (args.fanout !== undefined) options.fileFanout = Number(args.fanout)
  const results: WideResult[] = []
  for (const p of pairs) {
    const oldDir = await resolveSide(p.old)
    const newDir = await resolveSide(p.new)
    const cmesh = await accountUpdate(oldDir, newDir, { ...options, format: 'cmesh' })
    const unixfs = await accountUpdate(oldDir, newDir, { ...options, format: 'unixfs' })
    const literal = rsyncLiteralBytes(oldDir, newDir)
    const network = args.network === true
      ? { cmesh: await networkUpdate(oldDir, newDir, 'cmesh'), unixfs: await networkUpdate(oldDir, newDir, 'unixfs') }
      : undefined
    results.push({ pair: label(p), kind: p.kind, release: p.release, newSize: cmesh.newSize, rsyncLiteralBytes: literal, cmesh, unixfs, network })
  }
  const rows: Array<Record<string, unknown>> = results.map(r => ({
    pair: r.pair,
    release: r.release,
    newSize: r.newSize,
    'cmesh lacks': r.cmesh.newBytes,
    'unixfs lacks': r.unixfs.newBytes,
    'rsync literal': r.rsyncLiteralBytes ?? 'n/a',
    'cmesh/rsync': fmt(ratio(r.cmesh.newBytes, r.rsyncLiteralBytes)),
    'unixfs/rsync': fmt(ratio(r.unixfs.newBytes, r.rsyncLiteralBytes)),
    'cmesh delta wire': r.cmesh.delta.received,
    'unixfs delta wire': r.unixfs.delta.received,
    'cmesh delta/rsync': fmt(ratio(r.cmesh.delta.received, r.rsyncLiteralBytes)),
    'unixfs delta/rsync': fmt(ratio(r.unixfs.delta.received, r.rsyncLiteralBytes)),
    'delta asks c/u': `${r.cmesh.delta.requested}/${r.unixfs.delta.requested}`,
    'cmesh saved': pct(r.cmesh.newBytes, r.newSize),
    'unixfs saved': pct(r.unixfs.newBytes, r.newSize),
    'rsync saved': pct(r.rsyncLiteralBytes, r.newSize),
    targets: `${meets(r, r.cmesh) ? 'met' : 'MISSED'}/${meets(r, r.unixfs) ? 'met' : 'MISSED'}`,
    'with deltas': `${meetsDelta(r, r.cmesh) ? 'met' : 'MISSED'}/${meetsDelta(r, r.unixfs) ? 'met' : 'MISSED'}`
  }))
  const sum = (f: (r: WideResult) => number): number => results.reduce((s, r) => s + f(r), 0)
  const size = sum(r => r.newSize)
  const cm = sum(r => r.cmesh.newBytes)
  const ux = sum(r => r.unixfs.newBytes)
  const rs = results.some(r => r.rsyncLiteralBytes === null) ? null : sum(r => r.rsyncLiteralBytes!)
  const dcm = sum(r => r.cmesh.delta.received)
  const dux = sum(r => r.unixfs.delta.received)
  const worstDelta = (f: (r: WideResult) => UpdateAccount): string => fmt(Math.max(...results.map(r => ratio(f(r).delta.received, r.rsyncLiteralBytes) ?? 0)))
  const worst = (f: (r: WideResult) => UpdateAccount): string => fmt(Math.max(...results.map(r => ratio(f(r).newBytes, r.rsyncLiteralBytes) ?? 0)))
  rows.push({
    pair: `all ${results.length} pairs (worst ratio)`,
    release: '',
    newSize: size,
    'cmesh lacks': cm,
    'unixfs lacks': ux,
    'rsync literal': rs ?? 'n/a',
    'cmesh/rsync': `${fmt(ratio(cm, rs))} (${worst(r => r.cmesh)})`,
    'unixfs/rsync': `${fmt(ratio(ux, rs))} (${worst(r => r.unixfs)})`,
    'cmesh delta wire': dcm,
    'unixfs delta wire': dux,
    'cmesh delta/rsync': `${fmt(ratio(dcm, rs))} (${worstDelta(r => r.cmesh)})`,
    'unixfs delta/rsync': `${fmt(ratio(dux, rs))} (${worstDelta(r => r.unixfs)})`,
    'delta asks c/u': `${sum(r => r.cmesh.delta.requested)}/${sum(r => r.unixfs.delta.requested)}`,
    'cmesh saved': pct(cm, size),
    'unixfs saved': pct(ux, size),
    'rsync saved': pct(rs, size),
    targets: `${results.filter(r => meets(r, r.cmesh)).length}/${results.filter(r => meets(r, r.unixfs)).length} of ${results.length}`,
    'with deltas': `${results.filter(r => meetsDelta(r, r.cmesh)).length}/${results.filter(r => meetsDelta(r, r.unixfs)).length} of ${results.length}`
  })
  // the same new bytes by block kind (blocks in parentheses)
  const kinds: Array<Record<string, unknown>> = []
  for (const r of results) {
    for (const f of ['cmesh', 'unixfs'] as const) {
      const a = r[f]
      const row: Record<string, unknown> = { pair: r.pair, format: f }
      for (const k of BLOCK_KINDS) row[k] = `${a.bytes[k]} (${a.blocks[k]})`
      row['nodes share'] = a.newBytes === 0 ? '0 %' : (100 * (a.bytes.fileNode + a.bytes.dirNode + a.bytes.other) / a.newBytes).toFixed(1) + ' %'
      row['leaves/rsync'] = fmt(ratio(a.bytes.leaf + a.bytes.wholeFile, r.rsyncLiteralBytes))
      row['blocks in DAG'] = a.totalBlocks
      kinds.push(row)
    }
  }
  // the same updates over the network: wire bytes as UpdateResult counts them (compressed blocks, delta answers,
  // framing, the release's signed envelope) and at the TCP socket (plus TLS, yamux, identify, ping)
  const net: Array<Record<string, unknown>> = results.filter(r => r.network !== undefined).map(r => ({
    pair: r.pair,
    'rsync literal': r.rsyncLiteralBytes ?? 'n/a',
    'cmesh net wire': r.network!.cmesh.wireBytes,
    'unixfs net wire': r.network!.unixfs.wireBytes,
    'cmesh net/rsync': fmt(ratio(r.network!.cmesh.wireBytes, r.rsyncLiteralBytes)),
    'unixfs net/rsync': fmt(ratio(r.network!.unixfs.wireBytes, r.rsyncLiteralBytes)),
    'cmesh socket down/up': `${r.network!.cmesh.socketBytes}/${r.network!.cmesh.socketUpBytes}`,
    'unixfs socket down/up': `${r.network!.unixfs.socketBytes}/${r.network!.unixfs.socketUpBytes}`,
    'cmesh net saved': pct(r.network!.cmesh.wireBytes, r.newSize),
    'unixfs net saved': pct(r.network!.unixfs.wireBytes, r.newSize)
  }))
  if (args.json !== true) {
    console.log(formatTable(rows))
    if (net.length > 0) {
      console.log()
      console.log('Over the network (--network): two nodes on loopback, a release update with block deltas; wire bytes as the update counts them, socket bytes at TCP (down: received, up: sent)')
      console.log(formatTable(net))
    }
    console.log()
    console.log('New bytes by block kind: bytes (blocks); leaf = chunks of multi-chunk files, wholeFile = files of one chunk')
    console.log(formatTable(kinds))
    console.log()
  }
  console.log(JSON.stringify(results))
}
