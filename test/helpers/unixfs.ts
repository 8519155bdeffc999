import { CarWriter } from '@ipld/car'
import { writeFile } from 'node:fs/promises'
import { importer, type ImportCandidate, type ImporterOptions } from 'ipfs-unixfs-importer'
import type { CID } from 'multiformats/cid'
import type { Blockstore } from '../../src/store/interface.js'

/** Blocks made by IPFS's own UnixFS importer (as Kubo and Helia write them), in the order it wrote them. */
export interface UnixfsFixture {
  root: CID
  blocks: Array<{ cid: CID, bytes: Uint8Array }>
}

/** Import `entries` with ipfs-unixfs-importer; the root is the last result (the wrapping directory, if any). */
export async function unixfsFixture (entries: ImportCandidate[], options: ImporterOptions = {}): Promise<UnixfsFixture> {
  const blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()
  const sink = { put: async (cid: CID, bytes: Uint8Array) => { blocks.set(cid.toString(), { cid, bytes }); return cid } }
  let root: CID | undefined
  for await (const result of importer(entries, sink, options)) root = result.cid
  if (root === undefined) throw new Error('the importer made nothing')
  return { root, blocks: [...blocks.values()] }
}

/** Store a fixture's blocks and pin its root. */
export async function storeFixture (store: Pick<Blockstore, 'put' | 'pin'>, fixture: UnixfsFixture): Promise<CID> {
  for (const { cid, bytes } of fixture.blocks) await store.put(cid, bytes)
  await store.pin(fixture.root)
  return fixture.root
}

/** Write a fixture as a CARv1 file with its root. */
export async function writeFixtureCar (fixture: UnixfsFixture, path: string): Promise<void> {
  const { writer, out } = CarWriter.create([fixture.root])
  const parts: Uint8Array[] = []
  const reading = (async () => { for await (const part of out) parts.push(part) })()
  for (const block of fixture.blocks) await writer.put(block)
  await writer.close()
  await reading
  await writeFile(path, Buffer.concat(parts))
}
