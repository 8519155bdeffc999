import type { CID } from 'multiformats/cid'
import { cidKey } from './cid.js'
import { CODEC_RAW } from './constants.js'
import type { Block, Blockstore, StoreSession } from '../store/interface.js'

/**
 * Bytes put (repeats included) before one store transaction. Every block in flight keeps its 1 MiB read buffer resident;
 * 4 MiB with 2 in flight peaked ~15 MB lower than 8 MiB with 3 on a 1 GiB import at the same speed; smaller
 * batches mean more transactions, each reading index pages anew (more mapped pages, and slower).
 */
const BATCH_BYTES = 4 * 1024 * 1024
/** Blocks gathered before one store transaction: LMDB's per-transaction cost halves per block from 512 to 4096. */
const BATCH_BLOCKS = 4096
/** Store transactions in flight before the producer waits: bounds memory (about 12 MB) whatever the input size. */
const MAX_IN_FLIGHT = 2

/**
 * One batch being gathered: leaves and nodes are gathered apart. `bytes` counts every put while the batch is
 * open, repeats too: the read buffers of repeated chunks also wait for this batch's commit (afterLeavesCommitted).
 */
interface Pending { blocks: Block[], bytes: number, committed: Array<() => void> }

/**
 * Batches block writes into store transactions and keeps a bounded number in flight, so importing never
 * holds more than about BATCH_BYTES * MAX_IN_FLIGHT of input in memory, whether it repeats or not. Counts
 * blocks the store lacked.
 * Nodes (anything but raw leaves) go in transactions of their own, so they lie together in the store:
 * pinning reads every node, and LMDB maps (and keeps resident) the 64 KiB around each page it reads, which
 * among leaves would be 64 KiB of leaf bytes per node.
 */
export class BlockWriter {
  newBlocks = 0
  newBytes = 0
  /** Unique blocks written through this writer. */
  blocks = 0
  private readonly store: Pick<Blockstore, 'putMany'>
  private readonly session: StoreSession | undefined
  private readonly seen = new Set<string>()
  private readonly leaves: Pending = { blocks: [], bytes: 0, committed: [] }
  private readonly nodes: Pending = { blocks: [], bytes: 0, committed: [] }
  /** Whether every leaf batch written so far has committed (false once one failed). */
  private leavesCommitted: Promise<boolean> = Promise.resolve(true)
  private readonly inFlight: Array<Promise<void>> = []
  private failure: unknown

  constructor (store: Pick<Blockstore, 'putMany'>, session?: StoreSession) {
    this.store = store
    this.session = session
  }

  /** Queue a block; resolves once there is room for more. */
  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    const key = cidKey(cid)
    const pending = cid.code === CODEC_RAW ? this.leaves : this.nodes
    if (this.seen.has(key)) {
      // a repeat adds no block, yet counts toward the batch: else input that repeats (zeros) never fills the open batch, which holds every read buffer since
      if (pending.blocks.length === 0) return // nothing open to hold buffers: they are freed once earlier batches commit
      pending.bytes += bytes.length
    } else {
      this.seen.add(key)
      this.blocks++
      pending.blocks.push({ cid, bytes })
      pending.bytes += bytes.length
    }
    if (pending.bytes >= BATCH_BYTES || pending.blocks.length >= BATCH_BLOCKS) await this.flush(pending)
  }

  private async flush (pending: Pending): Promise<void> {
    if (pending.blocks.length > 0) {
      const batch = pending.blocks
      const callbacks = pending.committed
      pending.blocks = []
      pending.bytes = 0
      pending.committed = []
      const ok = this.store.putMany(batch, this.session).then(r => {
        this.newBlocks += r.newBlocks
        this.newBytes += r.newBytes
        return true
      }, err => {
        this.failure ??= err
        return false
      })
      if (pending === this.leaves) {
        const before = this.leavesCommitted
        this.leavesCommitted = Promise.all([before, ok]).then(([a, b]) => a && b)
        void this.leavesCommitted.then(all => { if (all) for (const f of callbacks) f() })
      }
      this.inFlight.push(ok.then(() => {}))
    }
    while (this.inFlight.length > MAX_IN_FLIGHT) await this.inFlight.shift()
    if (this.failure !== undefined) throw this.failure
  }

  /**
   * Call `fn` once every raw leaf put so far is committed (never, if a write fails): the importer then
   * reuses the read buffers those leaves were views of.
   */
  afterLeavesCommitted (fn: () => void): void {
    if (this.leaves.blocks.length > 0) this.leaves.committed.push(fn)
    else void this.leavesCommitted.then(all => { if (all) fn() })
  }

  /**
   * Write what is queued and wait until every block is committed. The writer is finished: the keys it
   * remembered are dropped (a large import holds them while its root is pinned next).
   */
  async done (): Promise<void> {
    await this.flush(this.leaves)
    await this.flush(this.nodes)
    await Promise.all(this.inFlight.splice(0))
    await this.leavesCommitted // its callbacks have run when done() returns
    this.seen.clear()
    if (this.failure !== undefined) throw this.failure
  }
}
