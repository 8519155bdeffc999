/**
 * /cmesh/delta/1.0.0: a node serves deltas of the blocks it holds against bases the asker holds (seeder side), and
 * asks peers for them (asker side, used by DeltaFetch). One request frame, one answer frame, per stream.
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { uploadGroup } from '../../policy/fairness/upload-groups.js'
import type { Blockstore } from '../../store/interface.js'
import type { CID } from 'multiformats/cid'
import { DeltaFetch } from './delta-fetch.js'
import { framedLength, readFrames, sendFrame } from '../exchange/framing.js'
import { ProtocolError } from '../exchange/wire.js'
import { encodeDelta } from './codec.js'
import {
  DELTA_ANSWER_TARGET, DELTA_ASK_TIMEOUT_MS, DELTA_MAX_INBOUND_STREAMS, DELTA_PROTOCOL, MAX_ANSWER_WORK, MAX_DELTA_MESSAGE, MAX_DELTA_RATIO
} from './constants.js'
import { decodeDeltaAnswer, decodeDeltaRequest, deltaAnswerBytes, encodeDeltaAnswer, encodeDeltaRequest, joinBases, type DeltaReply, type DeltaWant } from './wire.js'

export interface DeltaServiceComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>
  store: Pick<Blockstore, 'getSync' | 'has'>
  /**
   * Charge an answer's bytes to the peer it goes to before it is sent: the node passes its block service's upload
   * scheduler (BlockService.chargeUpload), so deltas are served under the same upload limit and fair shares as blocks.
   */
  charge?: (peer: string, group: string, bytes: number, signal?: AbortSignal) => Promise<void>
}

export interface DeltaServiceOptions {
  /** Serve deltas to peers. @default true */
  serve?: boolean
}

async function first (stream: Stream): Promise<Uint8Array> {
  for await (const frame of readFrames(stream, MAX_DELTA_MESSAGE)) return frame
  throw new ProtocolError('stream ended before a delta message')
}

export class DeltaService {
  private readonly serve: boolean
  /** Answers served: deltas sent, wants answered "no", answer bytes. */
  readonly served = { deltas: 0, refused: 0, bytes: 0 }

  constructor (private readonly c: DeltaServiceComponents, options: DeltaServiceOptions = {}) {
    this.serve = options.serve ?? true
  }

  async start (): Promise<void> {
    if (!this.serve) return
    await this.c.libp2p.handle(DELTA_PROTOCOL, async (stream: Stream, connection: Connection) => {
      try {
        const wants = decodeDeltaRequest(await first(stream))
        const answer = encodeDeltaAnswer(await this.answer(wants))
        const peer = connection.remotePeer.toString()
        // the upload group by address with the default prefixes (the block service applies its policy's own)
        await this.c.charge?.(peer, uploadGroup(connection.remoteAddr?.toString(), peer), answer.length)
        this.served.bytes += answer.length
        await sendFrame(stream, answer)
        await stream.close()
      } catch (err) {
        stream.abort(err as Error)
      }
    }, { maxInboundStreams: DELTA_MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    if (this.serve) await this.c.libp2p.unhandle(DELTA_PROTOCOL)
  }

  /**
   * The deltas for `wants`: each against its bases joined, when this node holds them all and the delta pays, within
   * DELTA_ANSWER_TARGET bytes of answer and MAX_ANSWER_WORK bytes read; "no" (undefined) for the others.
   */
  async answer (wants: DeltaWant[]): Promise<Array<Uint8Array | undefined>> {
    const out: Array<Uint8Array | undefined> = []
    let bytes = 0
    let work = 0
    for (const w of wants) {
      let delta: Uint8Array | undefined
      const { store } = this.c
      const room = bytes < DELTA_ANSWER_TARGET && work < MAX_ANSWER_WORK
      if (room && await store.has(w.cid) && (await Promise.all(w.bases.map(async b => await store.has(b)))).every(Boolean)) {
        const target = store.getSync(w.cid)
        const base = joinBases(w.bases.map(b => store.getSync(b)))
        work += target.length + (base?.length ?? 0)
        if (base !== undefined && work <= MAX_ANSWER_WORK) {
          // other streams and connections get their turn between encodings
          await new Promise(resolve => setImmediate(resolve))
          const d = encodeDelta(base, target)
          if (deltaAnswerBytes(d.length) < MAX_DELTA_RATIO * target.length) delta = d
        }
      }
      if (delta === undefined) this.served.refused++
      else this.served.deltas++
      bytes += deltaAnswerBytes(delta?.length)
      out.push(delta)
    }
    return out
  }

  /** The BaseHint (FetchOptions.base) of a fetch of `newRoot` by a node that holds `oldRoot`: it asks peers through this service. */
  base (store: { getSync: (cid: CID) => Uint8Array }, newRoot: CID, oldRoot: CID): DeltaFetch {
    return new DeltaFetch(async (peer, wants, signal) => await this.ask(peer, wants, signal), store, newRoot, oldRoot)
  }

  /** Ask `peer` for deltas of `wants` (the wire bytes counted are the answer's frame). */
  async ask (peer: PeerId | string, wants: DeltaWant[], signal?: AbortSignal): Promise<DeltaReply> {
    const timeout = AbortSignal.timeout(DELTA_ASK_TIMEOUT_MS)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const stream = await this.c.libp2p.dialProtocol(typeof peer === 'string' ? peerIdFromString(peer) : peer, DELTA_PROTOCOL, { signal: combined })
    const onAbort = (): void => { stream.abort(new ProtocolError('delta request aborted or timed out')) }
    combined.addEventListener('abort', onAbort, { once: true })
    try {
      await sendFrame(stream, encodeDeltaRequest(wants), combined)
      const frame = await first(stream)
      const deltas = decodeDeltaAnswer(frame, wants.length)
      await stream.close().catch(() => {})
      return { deltas, wireBytes: framedLength(frame.length) }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      combined.removeEventListener('abort', onAbort)
    }
  }
}
