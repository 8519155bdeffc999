import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { chunkBatches, chunkBytes, chunkStream, FastCdc, GEAR } from '../../../src/dag/chunker/fastcdc.js'
import { pseudoRandom } from '../../helpers/temp.js'

const SMALL = { minSize: 256, avgSize: 1024, maxSize: 4096 }

function hex (chunks: Uint8Array[]): string[] {
  return chunks.map(c => createHash('sha256').update(c).digest('hex'))
}

async function streamed (parts: Uint8Array[], options = SMALL): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of chunkStream(parts, options)) out.push(Uint8Array.from(c))
  return out
}

/** FastCDC written plainly, one byte a step: the optimized `cut` must agree with it everywhere. */
function referenceCut (cdc: FastCdc, maskS: number, maskL: number, buf: Uint8Array, start: number, end: number): number {
  let n = end - start
  if (n <= cdc.minSize) return n
  if (n > cdc.maxSize) n = cdc.maxSize
  let h = 0
  for (let i = cdc.minSize; i < n; i++) {
    h = ((h << 1) + GEAR[buf[start + i]!]!) | 0
    if ((h & (i < cdc.avgSize ? maskS : maskL)) === 0) return i + 1
  }
  return n
}

const topMask = (bits: number): number => bits <= 0 ? 0 : (~0 << (32 - bits)) | 0

describe('FastCDC chunker', () => {
  it('cuts exactly where a plain one-byte-a-step FastCDC cuts (property)', () => {
    fc.assert(fc.property(
      fc.constantFrom([64, 256, 1024, 2], [2048, 8192, 65536, 2], [256, 1024, 1100, 3], [1024, 1024, 1024, 0], [512, 2048, 65536, 1]),
      fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 150_000 }), fc.integer({ min: 1, max: 70_000 }),
      ([minSize, avgSize, maxSize, normalization], kind, seed, size, window) => {
        const cdc = new FastCdc({ minSize, avgSize, maxSize, normalization })
        const bits = Math.log2(avgSize)
        const data = kind === 0 ? new Uint8Array(size) : kind === 1 ? pseudoRandom(size, seed).map((_, i) => i % 7) : pseudoRandom(size, seed)
        for (let pos = 0; pos < data.length;) {
          const end = Math.min(data.length, pos + window)
          assert.equal(cdc.cut(data, pos, end), referenceCut(cdc, topMask(bits + normalization), topMask(bits - normalization), data, pos, end))
          pos += cdc.cut(data, pos, data.length)
        }
      }), { numRuns: 150 })
  })

  it('keeps the gear table fixed: it decides every CID', () => {
    assert.equal(GEAR.length, 256)
    // pinned: a change here changes every chunk boundary, every CID and the on-disk format
    assert.equal(createHash('sha256').update(new Uint8Array(GEAR.buffer)).digest('hex'), '7af9a25d3dcad89dd7bc5d76b814d13fa8c97dd5891d08c6543715d5e129b56e')
  })

  it('rejects sizes it cannot honour', () => {
    for (const bad of [
      { minSize: 10 },
      { avgSize: 3000 },
      { minSize: 8192, avgSize: 4096 },
      { maxSize: 2 * 1024 * 1024, avgSize: 1 << 20 },
      { normalization: 4 },
      { minSize: -1 },
      { avgSize: 1.5 }
    ]) {
      assert.throws(() => new FastCdc(bad), (err: { code?: string }) => err.code === 'ERR_INVALID_OPTION', JSON.stringify(bad))
    }
  })

  it('cuts chunks between min and max, the last one possibly shorter, covering every byte', () => {
    const data = pseudoRandom(200_000, 7)
    const chunks = chunkBytes(data, SMALL)
    assert.equal(chunks.reduce((s, c) => s + c.length, 0), data.length)
    chunks.slice(0, -1).forEach(c => assert.ok(c.length >= SMALL.minSize && c.length <= SMALL.maxSize, `chunk of ${c.length}`))
    assert.deepEqual(Buffer.concat(chunks), Buffer.from(data))
    const avg = data.length / chunks.length
    assert.ok(avg > SMALL.avgSize * 0.5 && avg < SMALL.avgSize * 2, `average ${avg} far from ${SMALL.avgSize}`)
  })

  it('cuts all-zero input at the maximum size', () => {
    const chunks = chunkBytes(new Uint8Array(10 * 4096 + 5), SMALL)
    assert.deepEqual(chunks.map(c => c.length), [...Array(10).fill(4096), 5])
  })

  it('gives the same chunks however the stream is split (property)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 1, max: 1000 }), fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 20 }),
      async (size, seed, cuts) => {
        const data = pseudoRandom(size, seed)
        const parts: Uint8Array[] = []
        let pos = 0
        for (let i = 0; pos < size; i++) {
          const n = cuts[i % cuts.length]!
          parts.push(data.slice(pos, pos + n))
          pos += n
        }
        assert.deepEqual(hex(await streamed(parts)), hex(chunkBytes(data, SMALL)))
      }), { numRuns: 60 })
  })

  it('is shift-resistant: inserting bytes near the start changes only the chunks around the insertion (property)', async () => {
    let changedTotal = 0
    let edits = 0
    await fc.assert(fc.property(
      fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 8000 }), fc.uint8Array({ minLength: 1, maxLength: 300 }),
      (seed, at, inserted) => {
        const data = pseudoRandom(120_000, seed)
        const edited = Buffer.concat([data.subarray(0, at), inserted, data.subarray(at)])
        const beforeChunks = chunkBytes(data, SMALL)
        const before = hex(beforeChunks)
        const after = hex(chunkBytes(edited, SMALL))
        // chunks that end before the insertion are untouched
        let prefix = 0
        for (let end = 0; prefix < beforeChunks.length && end + beforeChunks[prefix]!.length <= at; prefix++) end += beforeChunks[prefix]!.length
        assert.deepEqual(after.slice(0, prefix), before.slice(0, prefix))
        // the chunk the insertion lands in changes and resynchronisation usually takes one or two more, then all is
        // shared (fixed-size chunking would change every chunk after the insertion, ~100 of ~110). The tail is
        // long: in 20,000 random edits the worst took 16 chunks, so the bound per edit is 24 and the mean is
        // checked below (about 1.1 seen)
        let suffix = 0
        while (suffix < before.length && suffix < after.length && before[before.length - 1 - suffix] === after[after.length - 1 - suffix]) suffix++
        const changedBefore = before.length - prefix - suffix
        const changedAfter = after.length - prefix - suffix
        assert.ok(changedBefore <= 24 && changedAfter <= 24, `${changedBefore} old / ${changedAfter} new chunks differ around the insertion`)
        changedTotal += changedAfter
        edits++
      }), { numRuns: 200 })
    assert.ok(changedTotal / edits <= 4, `on average ${(changedTotal / edits).toFixed(1)} chunks changed per edit`)
  })

  it('yields batches of views, one batch per input', async () => {
    const data = pseudoRandom(50_000, 3)
    const batches: Uint8Array[][] = []
    for await (const b of chunkBatches([data.subarray(0, 20_000), data.subarray(20_000)], SMALL)) batches.push(b)
    assert.ok(batches.length >= 2)
    assert.deepEqual(Buffer.concat(batches.flat()), Buffer.from(data))
  })
})
