import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { blake3Implementations, getHasher } from '../../src/dag/hashing.js'
import { HASH_BLAKE3, HASH_SHA2_256 } from '../../src/dag/constants.js'

/** BLAKE3 of the empty input and of "abc" (the reference implementation's test vectors). */
const EMPTY = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'
const ABC = '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85'

describe('hashing', () => {
  it('uses native BLAKE3 on this platform, and every implementation gives the reference digests', async () => {
    const impls = await blake3Implementations()
    assert.deepEqual(impls.map(i => i.implementation), ['native', 'wasm'], 'the prebuilt binary loads on linux x64, beside the WebAssembly fallback')
    assert.equal((await getHasher('blake3') as unknown as { implementation: string }).implementation, 'native')
    for (const h of impls) {
      assert.equal(h.code, HASH_BLAKE3)
      assert.equal(Buffer.from(h.digest(new Uint8Array(0))).toString('hex'), EMPTY, h.implementation)
      assert.equal(Buffer.from(h.digest(new TextEncoder().encode('abc'))).toString('hex'), ABC, h.implementation)
    }
  })

  it('native and WebAssembly BLAKE3 agree on any input, views into larger buffers included', async () => {
    const [native, wasm] = await blake3Implementations()
    await fc.assert(fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.nat(16), (bytes, offset) => {
      const padded = new Uint8Array(bytes.length + offset + 3)
      padded.set(bytes, offset)
      const view = padded.subarray(offset, offset + bytes.length)
      assert.deepEqual(Buffer.from(native!.digest(view)), Buffer.from(wasm!.digest(bytes)))
    }), { numRuns: 60 })
  })

  it('resolves hashes by name and multihash code, and SHA-256 matches node:crypto', async () => {
    assert.equal(await getHasher(HASH_BLAKE3), await getHasher('blake3'))
    const sha = await getHasher(HASH_SHA2_256)
    assert.equal(sha.name, 'sha2-256')
    assert.deepEqual(Buffer.from(sha.digest(Buffer.from('abc'))), createHash('sha256').update('abc').digest())
    await assert.rejects(getHasher(0x99), { code: 'ERR_UNSUPPORTED_HASH' })
  })
})
