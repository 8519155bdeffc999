import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CarReader } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { verifyBlock } from '../../src/dag/verify.js'

/**
 * The fixture CARs of ipfs/gateway-conformance (test/fixtures/gateway-conformance/), loaded and verified, and what a
 * response must hold computed from them with @ipld/dag-pb and ipfs-unixfs (not with cmesh's reader), as that
 * suite's tooling (tooling/car/unixfs.go) computes it.
 */

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/gateway-conformance/', import.meta.url))

/** Every fixture's blocks, verified, and each fixture's root. */
export const blocks = new Map<string, Uint8Array>()
const roots = new Map<string, CID>()
for (const file of readdirSync(FIXTURES).filter(f => f.endsWith('.car'))) {
  const reader = await CarReader.fromBytes(readFileSync(join(FIXTURES, file)))
  roots.set(file.replace(/\.car$/, ''), (await reader.getRoots())[0]!)
  for await (const b of reader.blocks()) {
    await verifyBlock(b.cid, b.bytes)
    blocks.set(b.cid.toString(), b.bytes)
  }
}
export const root = (name: string): CID => roots.get(name) ?? assert.fail(`no fixture ${name}`)
export const bytesOf = (cid: CID): Uint8Array => blocks.get(cid.toString()) ?? assert.fail(`no block ${cid}`)
export const pb = (cid: CID): dagPb.PBNode => dagPb.decode(bytesOf(cid))
const isHamt = (cid: CID): boolean => cid.code === dagPb.code && UnixFS.unmarshal(pb(cid).Data!).type === 'hamt-sharded-directory'

/** The shards below a HAMT `shard` that lead to `name`, and the entry's CID. */
export function hamtFind (shard: CID, name: string): { trail: CID[], cid: CID } | undefined {
  for (const link of pb(shard).Links) {
    if (link.Name === undefined) continue
    if (link.Name.length === 2) { // a sub-shard: its label alone
      const below = hamtFind(link.Hash, name)
      if (below !== undefined) return { trail: [link.Hash, ...below.trail], cid: below.cid }
    } else if (link.Name.slice(2) === name) {
      return { trail: [], cid: link.Hash }
    }
  }
  return undefined
}

/** The CID at `names` below `cid`, through plain and HAMT-sharded UnixFS directories. */
export function at (cid: CID, ...names: string[]): CID {
  for (const name of names) {
    const found = isHamt(cid) ? hamtFind(cid, name)?.cid : pb(cid).Links.find(l => l.Name === name)?.Hash
    cid = found ?? assert.fail(`no ${name} below ${cid}`)
  }
  return cid
}

/** Every block below `cid` depth-first, each once (or every time it is reached, with `dups`), `cid` itself left out. */
export function descendants (cid: CID, dups = false, seen = new Set<string>()): string[] {
  const out: string[] = []
  if (cid.code !== dagPb.code) return out
  for (const link of pb(cid).Links) {
    const key = link.Hash.toString()
    if (!dups && seen.has(key)) continue
    seen.add(key)
    out.push(key, ...descendants(link.Hash, dups, seen))
  }
  return out
}

/** A HAMT's own shards below its root, depth-first in link order. */
export function shards (cid: CID): string[] {
  return pb(cid).Links.filter(l => l.Name?.length === 2).flatMap(l => [l.Hash.toString(), ...shards(l.Hash)])
}

export const ids = (...cids: Array<CID | string | Array<CID | string>>): string[] => cids.flat().map(String)
