import type * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { HAMT_HASH_MURMUR3, HAMT_WRITE_BITS } from './constants.js'
import { HamtBits } from './hamt.js'
import { labelLength } from './node.js'

/**
 * Writing a HAMT-sharded UnixFS directory as Kubo and ipfs-unixfs-importer shape it: each name placed by
 * successive `bits`-bit slices of its murmur3 hash (HamtBits, as the reader looks it up); a slot one name falls in
 * holds that entry, a slot several fall in holds a shard one level down. The shape depends on the names alone,
 * not on their order. Each shard records which of its 2^bits slots are used (a bitfield, big-endian, without leading
 * zero bytes); links are named by the slot in hex (two digits at 256 slots), followed by the entry's name for an entry.
 */

/** An entry to place: a DAG-PB link's name, target and Tsize. */
export interface HamtEntry { name: string, cid: CID, tsize: number }

interface Placed extends HamtEntry { bits: HamtBits }
class Shard { readonly slots = new Map<number, Placed | Shard>() }

async function place (shard: Shard, entry: Placed, bits: number): Promise<void> {
  const slot = await entry.bits.take(bits)
  const there = shard.slots.get(slot)
  if (there === undefined) {
    shard.slots.set(slot, entry)
  } else if (there instanceof Shard) {
    await place(there, entry, bits)
  } else { // two names in one slot: a shard below holds both, placed by their next bits
    const below = new Shard()
    shard.slots.set(slot, below)
    await place(below, there, bits)
    await place(below, entry, bits)
  }
}

type Encode = (data: UnixFS, links: dagPb.PBLink[]) => Uint8Array

async function writeShard (
  shard: Shard, bits: number, encode: Encode, emit: (bytes: Uint8Array) => Promise<CID>, mode?: number
): Promise<{ cid: CID, tsize: number }> {
  const fanout = 1 << bits
  const links: dagPb.PBLink[] = []
  const used = new Uint8Array(Math.ceil(fanout / 8)) // bit i of byte i/8 for slot i
  let below = 0
  for (const slot of [...shard.slots.keys()].sort((a, b) => a - b)) {
    const label = slot.toString(16).toUpperCase().padStart(labelLength(fanout), '0')
    used[slot >> 3]! |= 1 << (slot & 7)
    const item = shard.slots.get(slot)!
    const child = item instanceof Shard ? await writeShard(item, bits, encode, emit) : item
    links.push({ Name: item instanceof Shard ? label : label + item.name, Tsize: child.tsize, Hash: child.cid })
    below += child.tsize
  }
  let length = used.length
  while (length > 1 && used[length - 1] === 0) length--
  const data = new UnixFS({
    type: 'hamt-sharded-directory',
    data: used.slice(0, length).reverse(),
    fanout: BigInt(fanout),
    hashType: BigInt(HAMT_HASH_MURMUR3),
    mode
  })
  const bytes = encode(data, links)
  return { cid: await emit(bytes), tsize: bytes.length + below }
}

/** Write `entries` as a HAMT-sharded directory of 2^bits slots a shard (`mode` on its root shard); its root CID and Tsize. */
export async function writeHamtDirectory (
  entries: HamtEntry[], encode: Encode, emit: (bytes: Uint8Array) => Promise<CID>, mode?: number, bits = HAMT_WRITE_BITS
): Promise<{ cid: CID, tsize: number }> {
  const root = new Shard()
  for (const e of entries) await place(root, { ...e, bits: new HamtBits(e.name) }, bits)
  return await writeShard(root, bits, encode, emit, mode)
}
