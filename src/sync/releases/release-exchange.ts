import * as dagCbor from '@ipld/dag-cbor'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { thinBundle } from '../../policy/trust/release-manifest.js'
import type { ReleaseIndex } from '../../store/release-index.js'
import { readFrames, sendFrame } from '../exchange/framing.js'
import { ProtocolError } from '../exchange/wire.js'
import { MAX_ANSWER_BYTES, MAX_QUESTION_BYTES, RELEASE_ASK_TIMEOUT_MS, RELEASE_MAX_INBOUND_STREAMS, RELEASE_PROTOCOL } from './constants.js'

async function first (stream: Stream, max: number): Promise<unknown> {
  for await (const frame of readFrames(stream, max)) {
    try {
      return dagCbor.decode(frame)
    } catch (err) {
      throw new ProtocolError(`malformed release message: ${(err as Error).message}`)
    }
  }
  throw new ProtocolError('stream ended before a release message')
}

function exactMap (v: unknown, keys: string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length !== keys.length || !keys.every(k => Object.hasOwn(v, k))) {
    throw new ProtocolError(`release message must be { ${keys.join(', ')} }`)
  }
  return v as Record<string, unknown>
}

/**
 * A question is one small frame: `{ name, blocks, have }`. With `blocks: false` the answer is the signed envelope
 * alone (a few hundred bytes: enough to decide whether to update; the DAG then comes block by block, only what is
 * missing). With `blocks: true` it carries the DAG's interior blocks too (needed to use plain web mirrors), less
 * those of the release `have` the asker already holds, when the answering peer still has that release's bundle.
 * An answer is `{ bundle: bytes | null }`.
 */
export interface BundleQuestion {
  /** Include the DAG's interior blocks. */
  blocks: boolean
  /** The release the asker holds: its interior blocks are left out. */
  have: CID | null
}

/** Where release bundles come from (the release exchange, or a test's table). Peers are named by their id. */
export interface BundleSource {
  /** Bundles the connected peers hold for `name`, with who offered them. */
  offers: (name: string, question: BundleQuestion, signal?: AbortSignal) => Promise<Array<{ peer: string, bundle: Uint8Array }>>
  /** The bundle one peer holds for `name`, or undefined. */
  ask: (peer: string, name: string, question: BundleQuestion, signal?: AbortSignal) => Promise<Uint8Array | undefined>
}

export interface ReleaseExchangeComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getPeers'>
  /** The installed releases whose bundles this node gives out. */
  index: Pick<ReleaseIndex, 'bundle' | 'bundleOf'>
}

/**
 * /cmesh/release/1.0.0: ask a peer for the bundle of the release it holds for a name. The bytes are untrusted:
 * the caller opens the bundle (signature, trust, rollback, expiry) as it would any other.
 */
export class ReleaseExchange implements BundleSource {
  private readonly libp2p: ReleaseExchangeComponents['libp2p']
  private readonly index: ReleaseExchangeComponents['index']

  constructor (components: ReleaseExchangeComponents) {
    this.libp2p = components.libp2p
    this.index = components.index
  }

  /** The bundle this node gives for a question: the installed one, thinned to what the asker lacks. */
  private lookup (name: string, question: BundleQuestion): Uint8Array | undefined {
    const bundle = this.index.bundle(name)
    if (bundle === undefined) return undefined
    return thinBundle(bundle, { blocks: question.blocks, held: question.have === null ? undefined : this.index.bundleOf(question.have.toString()) })
  }

  async start (): Promise<void> {
    await this.libp2p.handle(RELEASE_PROTOCOL, async (stream: Stream) => {
      try {
        const q = exactMap(await first(stream, MAX_QUESTION_BYTES), ['name', 'blocks', 'have'])
        if (typeof q.name !== 'string' || typeof q.blocks !== 'boolean') throw new ProtocolError('name must be a string and blocks a boolean')
        const have = q.have === null ? null : CID.asCID(q.have)
        if (have === null && q.have !== null) throw new ProtocolError('have must be a CID or null')
        await sendFrame(stream, dagCbor.encode({ bundle: this.lookup(q.name, { blocks: q.blocks, have }) ?? null }))
        await stream.close()
      } catch (err) {
        stream.abort(err as Error)
      }
    }, { maxInboundStreams: RELEASE_MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    await this.libp2p.unhandle(RELEASE_PROTOCOL)
  }

  /** The bundle `peer` holds for `name`, or undefined. */
  async ask (peer: PeerId | string, name: string, question: BundleQuestion, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const timeout = AbortSignal.timeout(RELEASE_ASK_TIMEOUT_MS)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const stream = await this.libp2p.dialProtocol(typeof peer === 'string' ? peerIdFromString(peer) : peer, RELEASE_PROTOCOL, { signal: combined })
    const onAbort = (): void => { stream.abort(new ProtocolError('release question timed out')) }
    combined.addEventListener('abort', onAbort, { once: true })
    try {
      await sendFrame(stream, dagCbor.encode({ name, blocks: question.blocks, have: question.have }), combined)
      const a = exactMap(await first(stream, MAX_ANSWER_BYTES), ['bundle'])
      if (a.bundle !== null && !(a.bundle instanceof Uint8Array)) throw new ProtocolError('bundle must be bytes or null')
      await stream.close().catch(() => {})
      return a.bundle ?? undefined
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      combined.removeEventListener('abort', onAbort)
    }
  }

  /** Ask every connected peer; the bundles offered, with who offered them (peers that fail are skipped). */
  async offers (name: string, question: BundleQuestion, signal?: AbortSignal): Promise<Array<{ peer: string, bundle: Uint8Array }>> {
    const out: Array<{ peer: string, bundle: Uint8Array }> = []
    await Promise.all(this.libp2p.getPeers().map(async peer => {
      const bundle = await this.ask(peer, name, question, signal).catch(() => undefined)
      if (bundle !== undefined) out.push({ peer: peer.toString(), bundle })
    }))
    return out
  }
}
