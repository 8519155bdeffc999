import type { Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { setTimeout as sleep } from 'node:timers/promises'
import { cidKey } from '../../src/dag/cid.js'
import { BlockNotFoundError } from '../../src/errors.js'
import type { CmeshNode } from '../../src/node/index.js'
import type { Block } from '../../src/store/interface.js'
import { compress, packBlocks } from '../../src/sync/exchange/compression.js'
import { BLOCKS_PROTOCOLS, MAX_ENTRIES, MAX_MESSAGE_BYTES, MESSAGE_TARGET_BYTES } from '../../src/sync/exchange/constants.js'
import { framedLength, readFrames, sendFrame } from '../../src/sync/exchange/framing.js'
import { decodeMessage, encodeMessage, ProtocolError } from '../../src/sync/exchange/wire.js'

/** How a faulty peer misbehaves; every fault is off unless set. */
export interface Faults {
  /** Added delay before each answer, in ms. */
  latencyMs?: number
  /** Flip the first byte of every block sent. */
  corrupt?: boolean
  /** Claim every block in answer to a have question; asked for blocks, send dont-have for what is missing. */
  lieAboutHaves?: boolean
  /** Hang up on the requester after this many answers (counted over all requesters), then again after as many more. */
  disconnectEvery?: number
  /** Send every batch as a zblocks whose payload inflates far beyond its declared size. */
  compressionBomb?: boolean
  /** Bytes a second sent at most, paced per answer message (a stand-in for the real node's upload limit). @default unlimited */
  uploadLimit?: number
}

/**
 * Make a started node a faulty peer: its /cmesh/blocks/1.0.0 handler (the BlockService's) is replaced by a small
 * server that answers wants from `node.store` with `faults`. It speaks the protocol as BlockService.serve() does:
 * wants answered in order, each answer a dont-have for blocks it lacks, then blocks in messages of about
 * MESSAGE_TARGET_BYTES (compressed when that pays), then a have for a have question; a cancel drops blocks from the
 * answers still to come; the stream is closed once the requester closes its side. Unlike BlockService it has no
 * upload scheduler, fairness, flood guard or buffer budget, and serving is not counted in `node.blocks`' stats or
 * ledger. The node still stops as usual: BlockService.stop() unhandles the protocol, whichever handler holds it.
 */
export async function installFaults (node: CmeshNode, faults: Faults): Promise<void> {
  const { libp2p, store } = node
  let answers = 0

  /** One want's answer. */
  const answer = async (stream: Stream, cids: CID[], sendBlocks: boolean, cancelled: Set<string>, signal: AbortSignal): Promise<void> => {
    const have: CID[] = []
    const missing: CID[] = []
    for (const cid of cids) {
      if ((!sendBlocks && faults.lieAboutHaves === true) || await store.has(cid)) have.push(cid)
      else missing.push(cid)
    }
    if (missing.length > 0) await sendFrame(stream, encodeMessage({ t: 'dont-have', cids: missing.splice(0) }), signal)
    const held = sendBlocks ? have : []
    let i = 0
    while (i < held.length) {
      const batch: Block[] = []
      let batchBytes = 0
      while (i < held.length && batchBytes < MESSAGE_TARGET_BYTES && batch.length < MAX_ENTRIES) {
        const cid = held[i++]!
        if (cancelled.has(cidKey(cid))) continue
        let bytes: Uint8Array
        try {
          bytes = store.getSync(cid)
        } catch (err) {
          if (!(err instanceof BlockNotFoundError)) throw err
          missing.push(cid)
          continue
        }
        if (faults.corrupt === true && bytes.length > 0) {
          bytes = Uint8Array.from(bytes)
          bytes[0] = bytes[0]! ^ 0xff
        }
        batch.push({ cid, bytes })
        batchBytes += bytes.length
      }
      if (batch.length === 0) continue
      const message = faults.compressionBomb === true ? await bomb(batch) : await packBlocks(batch)
      await sendFrame(stream, message, signal)
      if (faults.uploadLimit !== undefined) await sleep(framedLength(message.length) / faults.uploadLimit * 1000, undefined, { signal })
    }
    if (!sendBlocks && have.length > 0) await sendFrame(stream, encodeMessage({ t: 'have', cids: have }), signal)
    if (missing.length > 0) await sendFrame(stream, encodeMessage({ t: 'dont-have', cids: missing }), signal)
  }

  for (const protocol of BLOCKS_PROTOCOLS) await libp2p.unhandle(protocol)
  await libp2p.handle(BLOCKS_PROTOCOLS, async (stream, connection) => {
    // a requester that resets the stream also ends our waits
    const gone = new AbortController()
    stream.addEventListener('close', () => { gone.abort() }, { once: true })
    const cancelled = new Set<string>()
    try {
      // frames are read between answers: a cancel sent during one is seen before the next
      for await (const frame of readFrames(stream, MAX_MESSAGE_BYTES)) {
        const m = decodeMessage(frame)
        if (m.t === 'cancel') {
          for (const c of m.cids) cancelled.add(cidKey(c))
          continue
        }
        if (m.t !== 'want') throw new ProtocolError(`unexpected ${m.t} message from a requester`)
        for (const c of m.cids) cancelled.delete(cidKey(c))
        if (faults.latencyMs !== undefined) await sleep(faults.latencyMs, undefined, { signal: gone.signal })
        await answer(stream, m.cids, m.blocks, cancelled, gone.signal)
        const every = faults.disconnectEvery
        if (every !== undefined && ++answers % every === 0) await libp2p.hangUp(connection.remotePeer).catch(() => {})
      }
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 16 })
}

/** A zblocks message for `blocks` that inflates a few MiB past its declared size. */
async function bomb (blocks: Block[]): Promise<Uint8Array> {
  const plain = encodeMessage({ t: 'blocks', blocks })
  const inflated = new Uint8Array(plain.length + MAX_MESSAGE_BYTES)
  inflated.set(plain)
  return encodeMessage({ t: 'zblocks', alg: 'br', size: plain.length, data: await compress('br', inflated) })
}
