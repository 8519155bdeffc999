/**
 * How much of a package update does a peer that holds the old version have to fetch?
 * `npm run bench:update [-- <old> <new>] [--json]`; old and new are directories or npm specs (default pairs:
 * bench/packages.ts). For each pair, the new version imported after the old one into a fresh store:
 *   cmesh       newBytes with the default FastCDC sizes (leaves and DAG nodes the store lacked)
 *   fixed 256K  newBytes with fixed 256 KiB chunks (what IPFS' default importer would dedupe)
 *   rsync       literal data of `rsync --no-whole-file` from a copy of old to new (n/a without rsync)
 */
import { DEFAULT_PAIRS, FIXED_256K, haveRsync, importUpdate, pairLabel, resolveSide, rsyncLiteralBytes } from './packages.js'
import { parseBenchArgs, printTable } from './report.js'

interface UpdateResult {
  pair: string
  newSize: number
  newBytes: number
  fixedNewBytes: number
  rsyncLiteralBytes: number | null
  savedPercent: number
}

const saved = (bytes: number, size: number): number => size === 0 ? 0 : 100 * (1 - bytes / size)
const pct = (bytes: number | null, size: number): string => bytes === null ? 'n/a' : saved(bytes, size).toFixed(1) + ' %'

async function main (): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2))
  if (args._.length !== 0 && args._.length !== 2) throw new Error('usage: bench:update [-- <old> <new>] [--json]')
  const pairs = args._.length === 2 ? [[args._[0]!, args._[1]!] as [string, string]] : DEFAULT_PAIRS
  if (!haveRsync() && args.json !== true) console.error('rsync not found: its column shows n/a')
  const results: UpdateResult[] = []
  const rows: Array<Record<string, unknown>> = []
  for (const [oldArg, newArg] of pairs) {
    const oldDir = await resolveSide(oldArg)
    const newDir = await resolveSide(newArg)
    const cm = await importUpdate(oldDir, newDir)
    const fixed = await importUpdate(oldDir, newDir, { chunker: FIXED_256K })
    const literal = rsyncLiteralBytes(oldDir, newDir)
    const r: UpdateResult = {
      pair: pairLabel(oldArg, newArg),
      newSize: cm.newSize,
      newBytes: cm.newBytes,
      fixedNewBytes: fixed.newBytes,
      rsyncLiteralBytes: literal,
      savedPercent: Math.round(saved(cm.newBytes, cm.newSize) * 100) / 100
    }
    results.push(r)
    rows.push({
      pair: r.pair,
      newSize: r.newSize,
      'cmesh newBytes': r.newBytes,
      'cmesh saved': pct(r.newBytes, r.newSize),
      'fixed-256K newBytes': r.fixedNewBytes,
      'fixed saved': pct(r.fixedNewBytes, r.newSize),
      'rsync literal': literal ?? 'n/a',
      'rsync saved': pct(literal, r.newSize),
      'cmesh/rsync': literal === null ? 'n/a' : literal === 0 ? (r.newBytes === 0 ? '1.00' : 'inf') : (r.newBytes / literal).toFixed(2)
    })
  }
  printTable(rows, args.json === true, results)
}

await main()
