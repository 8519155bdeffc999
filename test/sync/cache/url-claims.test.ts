import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { openMessage, signMessage, type UrlClaim } from '../../../src/sync/cache/url-claims.js'
import { welcomes } from '../../../src/sync/cache/url-community.js'
import { STATUS_WELCOMES } from '../../../src/sync/cache/constants.js'

const isBadClaim = (err: Error & { code?: string }): boolean => err.code === 'ERR_BAD_CLAIM'

async function claimFor (peer: string): Promise<UrlClaim> {
  const cid = CID.createV1(0x55, await sha256.digest(new Uint8Array([1, 2, 3])))
  return { url: 'http://deb.example/pool/a.deb', cid, size: 3, headers: { etag: '"1"' }, fetchedAt: 1000, freshUntil: 2000, peer }
}

describe('signed URL claims', () => {
  it('round-trips claims and status signed by the peer they name', async () => {
    const key = await generateKeyPair('Ed25519')
    const peer = peerIdFromPrivateKey(key).toString()
    const claim = await claimFor(peer)
    const opened = await openMessage((await signMessage(key, { t: 'claim', claim })).bytes)
    assert.equal(opened.message.t, 'claim')
    assert.deepEqual(opened.message.t === 'claim' && { ...opened.message.claim, cid: opened.message.claim.cid.toString() }, { ...claim, cid: claim.cid.toString() })
    const status = { peer, at: 5, capacity: 100, free: 40, top: [['http://x/', 2.5]] as Array<[string, number]> }
    const s = await openMessage((await signMessage(key, { t: 'status', status })).bytes)
    assert.deepEqual(s.message.t === 'status' && s.message.status, status)
  })

  it('rejects a claim signed by another key, or altered on the way', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const claim = await claimFor(peerIdFromPrivateKey(other).toString()) // names `other`, signed by `key`
    await assert.rejects(openMessage((await signMessage(key, { t: 'claim', claim })).bytes), isBadClaim)
    const honest = await signMessage(key, { t: 'claim', claim: { ...claim, peer: peerIdFromPrivateKey(key).toString() } })
    const outer = dagCbor.decode<{ t: string, body: Uint8Array, sig: Uint8Array }>(honest.bytes)
    const body = dagCbor.decode<Record<string, unknown>>(outer.body)
    const forged = dagCbor.encode({ ...outer, body: dagCbor.encode({ ...body, size: 4 }) })
    await assert.rejects(openMessage(forged), isBadClaim)
    await assert.rejects(openMessage(dagCbor.encode({ ...outer, extra: 1 })), isBadClaim)
  })

  it('refuses any malformed bytes with ERR_BAD_CLAIM', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async bytes => {
      await assert.rejects(openMessage(bytes), isBadClaim)
    }), { numRuns: 200 })
  })
})

describe('welcoming a new member', () => {
  it('a small community always welcomes; a large one about STATUS_WELCOMES of its members do', () => {
    for (let known = 0; known <= STATUS_WELCOMES; known++) {
      assert.ok(welcomes(known, 0.999), `a member knowing ${known} always welcomes`)
    }
    // evenly spread draws: the expected number of members of a community of `known` that welcome a newcomer
    const draws = Array.from({ length: 1000 }, (_, i) => i / 1000)
    for (const known of [8, 50, 500]) {
      const share = draws.filter(d => welcomes(known, d)).length / draws.length
      assert.ok(Math.abs(share * known - STATUS_WELCOMES) < 0.5, `${known} members: ${(share * known).toFixed(2)} welcome`)
    }
  })
})
