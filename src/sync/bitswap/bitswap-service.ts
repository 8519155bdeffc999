import type { Libp2p } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { from as hasherFrom } from 'multiformats/hashes/hasher'
import type { MultihashHasher } from 'multiformats/hashes/interface'
import { getHasher } from '../../dag/hashing.js'
import { AbortError } from '../../errors.js'
import type { Blockstore } from '../../store/interface.js'
import { BITSWAP_MAX_INCOMING_MESSAGE_BYTES } from './constants.js'

/** What a bitswap upload waits for before its bytes go out: the node's upload scheduler (see BlockService.chargeUpload). */
export type UploadCharge = (bytes: number, signal?: AbortSignal) => Promise<void>

export interface BitswapServiceComponents {
  libp2p: Libp2p
  store: Pick<Blockstore, 'has' | 'getSync'>
  /** Charged with every block served over bitswap before it is handed to the protocol. */
  charge: UploadCharge
}

export interface BitswapServiceInit {
  /** Exchange blocks with IPFS peers over limited (relayed) connections too. @default false, as @helia/bitswap */
  allowRelayedTransfers?: boolean
}

/** The parts of @helia/bitswap's block broker this service uses. */
interface BitswapBroker {
  start: () => Promise<void>
  stop: () => Promise<void>
  retrieve: (cid: CID, options: { signal?: AbortSignal }) => Promise<Uint8Array>
}

/**
 * Bitswap 1.2 on a node's libp2p host, by @helia/bitswap: IPFS peers (Helia, Kubo) fetch the blocks this node
 * holds, and the node fetches theirs (see bitswapSource). Blocks served are read from the store and charged to the
 * upload scheduler first (all bitswap peers share one upload group), so the node's upload limit and fair shares
 * hold for them as for cmesh peers. Blocks received are checked against their CID by bitswap, then again by the
 * fetcher, before anything is stored. Content routing is the connections the node has: bitswap sends its want
 * list to the connected peers that speak it and finds no other providers.
 */
export class BitswapService {
  private broker: BitswapBroker | undefined

  constructor (private readonly components: BitswapServiceComponents, private readonly init: BitswapServiceInit = {}) {}

  async start (): Promise<void> {
    const { libp2p, store, charge } = this.components
    // loaded on start: nodes that never start it do not pay for the module
    const { withBitswap } = await import('@helia/bitswap')
    const blockstore = {
      has: async (cid: CID) => await store.has(cid),
      get: async function * (cid: CID, options?: { signal?: AbortSignal }) {
        const bytes = store.getSync(cid)
        await charge(bytes.length, options?.signal)
        yield bytes
      }
    }
    const hashers = new Map<number, MultihashHasher>()
    const loadHasher = async (code: number): Promise<MultihashHasher> => {
      let h = hashers.get(code)
      if (h === undefined) {
        const ours = await getHasher(code)
        hashers.set(code, h = hasherFrom({ name: ours.name, code: ours.code, encode: bytes => ours.digest(bytes) as Uint8Array<ArrayBuffer> }))
      }
      return h
    }
    // @helia/bitswap exports its broker as a Helia mixin only: it is given the components a Helia node would give it
    let broker: BitswapBroker | undefined
    let starting: Promise<void> = Promise.resolve()
    const host = {
      status: 'starting',
      libp2p,
      blockstore,
      logger: defaultLogger(),
      getHasher: loadHasher,
      routing: { findProviders: async function * () {} },
      hasBlockBroker: () => false,
      addBlockBroker: (b: BitswapBroker) => { broker = b },
      addMixin: (mixin: { start: (h: unknown) => Promise<void> }) => { starting = mixin.start(host) }
    }
    withBitswap(host as unknown as Parameters<typeof withBitswap>[0], {
      maxIncomingMessageSize: BITSWAP_MAX_INCOMING_MESSAGE_BYTES,
      runOnLimitedConnections: this.init.allowRelayedTransfers ?? false
    })
    await starting
    if (broker === undefined) throw new Error('@helia/bitswap did not start its block broker')
    this.broker = broker
  }

  async stop (): Promise<void> {
    await this.broker?.stop()
    this.broker = undefined
  }

  /** A block from the bitswap peers connected now (unverified here: the fetcher verifies what it takes). */
  async want (cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.broker === undefined) throw new AbortError('bitswap is stopped')
    return await this.broker.retrieve(cid, { signal })
  }
}
