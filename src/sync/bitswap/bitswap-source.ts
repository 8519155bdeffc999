import type { CID } from 'multiformats/cid'
import type { Block } from '../../store/interface.js'
import type { BlockAnswer, BlockSource } from '../fetch/fetch-interface.js'
import type { BitswapService } from './bitswap-service.js'
import { BITSWAP_WANT_CONCURRENCY, BITSWAP_WANT_TIMEOUT_MS } from './constants.js'

/**
 * A fetch's block source for a peer that speaks bitswap and not the cmesh block protocol (a Helia or Kubo node): a
 * request becomes wants, BITSWAP_WANT_CONCURRENCY at a time, each given up after BITSWAP_WANT_TIMEOUT_MS (then
 * counted missing, so the fetcher asks elsewhere or again). Bitswap sends want lists to every connected bitswap
 * peer, so blocks may come from any of them; the source is named after the peer it was made for.
 */
export function bitswapSource (bitswap: Pick<BitswapService, 'want'>, id: string): BlockSource {
  return {
    id,
    request: async (cids, options): Promise<BlockAnswer> => {
      const blocks: Block[] = []
      const missing: CID[] = []
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < cids.length) {
          const cid = cids[next++]!
          options.signal?.throwIfAborted()
          const timeout = AbortSignal.timeout(BITSWAP_WANT_TIMEOUT_MS)
          const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
          try {
            blocks.push({ cid, bytes: await bitswap.want(cid, signal) })
          } catch (err) {
            options.signal?.throwIfAborted() // the fetch's own abort ends the request; a timeout only this block
            void err
            missing.push(cid)
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(BITSWAP_WANT_CONCURRENCY, cids.length) }, worker))
      return { blocks, missing }
    }
  }
}
