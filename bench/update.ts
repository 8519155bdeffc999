/**
 * How much of a package update does a peer that holds the old version have to fetch?
 * `npm run bench:update [-- <old> <new>] [--format both|cmesh|unixfs] [--json]`; old and new are directories or npm specs (default pairs:
 * bench/packages.ts). For each pair, the new version imported after the old one into a fresh store:
 *   cmesh       newBytes with the default FastCDC sizes (leaves and DAG nodes the store lacked)
 *   unixfs      the same, written as UnixFS (format: 'unixfs'), and its wire bytes (--format both, the default)
 *   fixed 256K  newBytes with fixed 256 KiB chunks (what IPFS' default importer would dedupe)
 *   rsync       literal data of `rsync --no-whole-file` from a copy of old to new (n/a without rsync)
 * and over the network, in the same run:
 *   wire        bytes a client holding old received to update to new from a seeder, real nodes on loopback
 *               (bench/network-update.ts), as the update reports it: blocks and the signed envelope (shown
 *               apart as bundle); socket: all the client received through its TCP connection during the
 *               update, counted by a relay (adds TLS, yamux, identify and ping)
 *   rsync -z    "Total bytes sent" by `rsync -rzc` pushing new to an rsync daemon holding old, on loopback
 *               (bench/rsync-daemon.ts; n/a without rsync)
 * `--archives [--only eslint,curl]` prints the archives table instead (bench/archives.ts), `--wide [--only lodash]`
 * the wide set of pairs nothing was tuned on, in both formats, bytes by block kind (bench/update-wide.ts).
 */
import { archivesTable } from './archives.js'
import { wideTable } from './update-wide.js'
import { networkUpdate } from './network-update.js'
import { DEFAULT_PAIRS, FIXED_256K, haveRsync, importUpdate, pairLabel, resolveSide, rsyncLiteralBytes } from './packages.js'
import { parseBenchArgs, printTable } from './report.js'
import { rsyncZ, type RsyncZResult } from './rsync-daemon.js'

interface UpdateResult {
  pair: string
  newSize: number
  newBytes: number
  fixedNewBytes: number
  rsyncLiteralBytes: number | null
  savedPercent: number
  /** Bytes the network update received on the wire (UpdateResult.wireBytes). */
  wireBytes: number
  wireSavedPercent: number
  /** Bytes the client's socket received during that update (a counting relay): blocks, bundle, framing, TLS. */
  socketBytes: number
  /** Of wireBytes, the release bundles (the signed envelope) received through the release exchange. */
  bundleBytes: number
  /** Seconds the network update took. */
  wireSeconds: number
  /** `rsync -z` over a socket: bytes sent by the pushing side; null without rsync. */
  rsyncZBytes: number | null
  /** ... and bytes it received (the receiver's block checksums). */
  rsyncZReceivedBytes: number | null
  /** The same import and network update written as UnixFS; null with --format cmesh. */
  unixfs: { newBytes: number, savedPercent: number, wireBytes: number, wireSavedPercent: number } | null
}

const saved = (bytes: number, size: number): number => size === 0 ? 0 : 100 * (1 - bytes / size)
const pct = (bytes: number | null, size: number): string => bytes === null ? 'n/a' : saved(bytes, size).toFixed(1) + ' %'
const ratio = (a: number, b: number | null): string => b === null ? 'n/a' : b === 0 ? (a === 0 ? '1.00' : 'inf') : (a / b).toFixed(2)
const round2 = (n: number): number => Math.round(n * 100) / 100

async function main (): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), { format: 'both' })
  const format = String(args.format)
  if (format !== 'both' && format !== 'cmesh' && format !== 'unixfs') throw new Error('--format takes both, cmesh or unixfs')
  if (args.archives === true) return await archivesTable(args)
  if (args.wide === true) return await wideTable(args)
  if (args._.length !== 0 && args._.length !== 2) throw new Error('usage: bench:update [-- <old> <new>] [--json]')
  const pairs = args._.length === 2 ? [[args._[0]!, args._[1]!] as [string, string]] : DEFAULT_PAIRS
  const rsync = haveRsync()
  // on stderr even with --json: a null in the JSON should not go unexplained
  if (!rsync) console.error('rsync not found: the rsync columns show n/a (null in the JSON)')
  const results: UpdateResult[] = []
  const rows: Array<Record<string, unknown>> = []
  for (const [oldArg, newArg] of pairs) {
    const oldDir = await resolveSide(oldArg)
    const newDir = await resolveSide(newArg)
    // --format unixfs: the main columns are UnixFS's; both: cmesh's, with UnixFS's beside them
    const main = format === 'unixfs' ? 'unixfs' : 'cmesh'
    const cm = await importUpdate(oldDir, newDir, { format: main })
    const fixed = await importUpdate(oldDir, newDir, { chunker: FIXED_256K })
    const literal = rsyncLiteralBytes(oldDir, newDir)
    const net = await networkUpdate(oldDir, newDir, main)
    const ux = format === 'both' ? await importUpdate(oldDir, newDir, { format: 'unixfs' }) : null
    const uxNet = format === 'both' ? await networkUpdate(oldDir, newDir, 'unixfs') : null
    const z: RsyncZResult | null = rsync ? await rsyncZ(oldDir, newDir) : null
    const r: UpdateResult = {
      pair: pairLabel(oldArg, newArg),
      newSize: cm.newSize,
      newBytes: cm.newBytes,
      fixedNewBytes: fixed.newBytes,
      rsyncLiteralBytes: literal,
      savedPercent: round2(saved(cm.newBytes, cm.newSize)),
      wireBytes: net.wireBytes,
      wireSavedPercent: round2(saved(net.wireBytes, cm.newSize)),
      socketBytes: net.socketBytes,
      bundleBytes: net.bundleBytes,
      wireSeconds: round2(net.seconds),
      rsyncZBytes: z?.sent ?? null,
      rsyncZReceivedBytes: z?.received ?? null,
      unixfs: ux === null || uxNet === null
        ? null
        : {
            newBytes: ux.newBytes,
            savedPercent: round2(saved(ux.newBytes, ux.newSize)),
            wireBytes: uxNet.wireBytes,
            wireSavedPercent: round2(saved(uxNet.wireBytes, ux.newSize))
          }
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
      'cmesh/rsync': ratio(r.newBytes, literal),
      ...r.unixfs === null
        ? {}
        : { 'unixfs newBytes': r.unixfs.newBytes, 'unixfs saved': pct(r.unixfs.newBytes, r.newSize), 'unixfs/rsync': ratio(r.unixfs.newBytes, literal) },
      'wire bytes': r.wireBytes,
      'wire saved': pct(r.wireBytes, r.newSize),
      ...r.unixfs === null ? {} : { 'unixfs wire': r.unixfs.wireBytes, 'unixfs wire saved': pct(r.unixfs.wireBytes, r.newSize) },
      bundle: r.bundleBytes,
      'socket bytes': r.socketBytes,
      'rsync -z': r.rsyncZBytes ?? 'n/a',
      'cmesh/rsync-z': ratio(r.wireBytes, r.rsyncZBytes),
      'socket/rsync-z': ratio(r.socketBytes, r.rsyncZBytes)
    })
  }
  printTable(rows, args.json === true, results)
}

await main()
