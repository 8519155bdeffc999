import type { CID } from 'multiformats/cid'
import { cidKey } from './cid.js'
import type { Block, Blockstore, StoreSession } from '../store/interface.js'

/** Bytes gathered before one store transaction. */
const BATCH_BYTES = 8 * 1024 * 1024
/** Blocks gathered before one store transaction: LMDB's per-transaction cost halves per block from 512 to 4096. */
const BATCH_BLOCKS = 4096
/** Store transactions in flight before the producer waits: bounds memory (about 24 MB) whatever the input size. */
const MAX_IN_FLIGHT = 3

/**
 * Batches block writes into store transactions and keeps a bounded number in flight, so importing never
 * holds more than about BATCH_BYTES * MAX_IN_FLIGHT of blocks in memory. Counts blocks the store lacked.
 */
export class BlockWriter {
  newBlocks = 0
  newBytes = 0
  /** Unique blocks written through this writer. */
  blocks = 0
  private readonly store: Pick<Blockstore, 'putMany'>
  private readonly session: StoreSession | undefined
  private readonly seen = new Set<string>()
  private pending: Block[] = []
  private pendingBytes = 0
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
    this.pending.push({ cid, bytes })
    this.pendingBytes += bytes.length
    if (this.pendingBytes >= BATCH_BYTES || this.pending.length >= BATCH_BLOCKS) await this.flush()
  }

  private async flush (): Promise<void> {
    if (this.pending.length > 0) {
      const batch = this.pending
      this.pending = []
      this.pendingBytes = 0
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
    await this.flush()
    await Promise.all(this.inFlight.splice(0))
    if (this.failure !== undefined) throw this.failure
  }
}
