import type { CID } from 'multiformats/cid'
import type { Block, Blockstore } from '../../store/interface.js'
import type { BlockSource } from './fetcher.js'

/**
 * Another repository as a block source: a store on a USB stick or a shared disk. Its bytes are treated as
 * untrusted like any peer's; the fetcher verifies them.
 */
export function storeSource (store: Pick<Blockstore, 'getSync' | 'has'>, id: string): BlockSource {
  return {
    id,
    async request (cids: CID[]) {
      const blocks: Block[] = []
      const missing: CID[] = []
      for (const cid of cids) {
        if (await store.has(cid)) blocks.push({ cid, bytes: store.getSync(cid) })
        else missing.push(cid)
      }
      return { blocks, missing }
    },
    async haves (cids: CID[]) {
      const out: CID[] = []
      for (const cid of cids) if (await store.has(cid)) out.push(cid)
      return out
    }
  }
}
