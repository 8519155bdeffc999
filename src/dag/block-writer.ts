import type { CID } from 'multiformats/cid'
import { cidKey } from './cid.js'
import { CODEC_RAW } from './constants.js'
import type { Block, Blockstore, StoreSession } from '../store/interface.js'

/** Bytes gathered before one store transaction. */
const BATCH_BYTES = 8 * 1024 * 1024
/** Blocks gathered before one store transaction: LMDB's per-transaction cost halves per block from 512 to 4096. */
const BATCH_BLOCKS = 4096
/** Store transactions in flight before the producer waits: bounds memory (about 24 MB) whatever the input size. */
const MAX_IN_FLIGHT = 3

/** One batch being gathered: leaves and nodes are gathered apart. */
interface Pending { blocks: Block[], bytes: number }

/**
 * Batches block writes into store transactions and keeps a bounded number in flight, so importing never
 * holds more than about BATCH_BYTES * MAX_IN_FLIGHT of blocks in memory. Counts blocks the store lacked.
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
  private leaves: Pending = { blocks: [], bytes: 0 }
  private nodes: Pending = { blocks: [], bytes: 0 }
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
    if (this.seen.has(key)) return
    this.seen.add(key)
    this.blocks++
    const pending = cid.code === CODEC_RAW ? this.leaves : this.nodes
    pending.blocks.push({ cid, bytes })
    pending.bytes += bytes.length
    if (pending.bytes >= BATCH_BYTES || pending.blocks.length >= BATCH_BLOCKS) await this.flush(pending)
  }

  private async flush (pending: Pending): Promise<void> {
    if (pending.blocks.length > 0) {
      const batch = pending.blocks
      pending.blocks = []
      pending.bytes = 0
      const p = this.store.putMany(batch, this.session).then(r => {
        this.newBlocks += r.newBlocks
        this.newBytes += r.newBytes
      }, err => { this.failure ??= err })
      this.inFlight.push(p)
    }
    while (this.inFlight.length > MAX_IN_FLIGHT) await this.inFlight.shift()
    if (this.failure !== undefined) throw this.failure
  }

  /** Write what is queued and wait until every block is committed. */
  async done (): Promise<void> {
    await this.flush(this.leaves)
    await this.flush(this.nodes)
    await Promise.all(this.inFlight.splice(0))
    if (this.failure !== undefined) throw this.failure
  }
}
