import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeFrame, readFrames } from '../../src/sync/exchange/framing.js'
import { assertTyped, cpuMs, hex } from './helpers.js'
import { DECODE_CPU_LIMIT_MS, fuzzParams } from './settings.js'
import { leb128 } from '../helpers/varint.js'

/** What reading a whole stream gives: the frames in order, then a clean end or a refusal (with its code). */
interface Reading { frames: string[], end: 'ok' | string }

/** Read `pieces` with readFrames; every refusal must be typed (ProtocolError). */
async function read (pieces: Array<Uint8Array | Uint8ArrayList>, maxLength: number): Promise<Reading> {
  const frames: string[] = []
  const started = cpuMs()
  try {
    for await (const f of readFrames((async function * () { yield * pieces })(), maxLength)) frames.push(hex(f))
  } catch (err) {
    assertTyped(err, ['ERR_PROTOCOL'], 'readFrames')
    return { frames, end: err.code }
  } finally {
    const ms = cpuMs() - started
    if (ms > DECODE_CPU_LIMIT_MS) assert.fail(`readFrames spent ${ms.toFixed(0)} ms of CPU on ${pieces.length} pieces`)
  }
  return { frames, end: 'ok' }
}

/**
 * The framing as specified, written as plainly as possible: unsigned LEB128 prefixes of at most 5 bytes, a frame
 * longer than `maxLength` refused at its prefix, a stream that ends inside a prefix or a frame refused.
 */
function model (stream: Uint8Array, maxLength: number): Reading {
  const frames: string[] = []
  let pos = 0
  while (pos < stream.length) {
    let len = 0
    let i = 0
    for (;;) {
      if (pos + i >= stream.length) return { frames, end: 'ERR_PROTOCOL' }
      const byte = stream[pos + i]!
      len += (byte & 0x7f) * 2 ** (7 * i)
      i++
      if ((byte & 0x80) === 0) break
      if (i >= 5) return { frames, end: 'ERR_PROTOCOL' }
    }
    if (len > maxLength) return { frames, end: 'ERR_PROTOCOL' }
    pos += i
    if (pos + len > stream.length) return { frames, end: 'ERR_PROTOCOL' }
    frames.push(hex(stream.subarray(pos, pos + len)))
    pos += len
  }
  return { frames, end: 'ok' }
}

/** Split `stream` at the given cut sizes (cycled), some pieces as Uint8ArrayLists of several chunks. */
function split (stream: Uint8Array, cuts: number[], lists: boolean[]): Array<Uint8Array | Uint8ArrayList> {
  const pieces: Array<Uint8Array | Uint8ArrayList> = []
  for (let pos = 0, i = 0; pos < stream.length; i++) {
    const n = cuts[i % cuts.length]!
    const piece = stream.subarray(pos, pos + n)
    if (lists[i % lists.length] === true && piece.length > 1) {
      const half = piece.length >> 1
      pieces.push(new Uint8ArrayList(piece.subarray(0, half), new Uint8Array(0), piece.subarray(half)))
    } else {
      pieces.push(piece)
    }
    pos += n
  }
  return pieces
}

/** A stream of frames (some empty), now and then followed by arbitrary bytes; or arbitrary bytes alone. */
const streamArb = fc.oneof(
  fc.tuple(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.uint8Array({ maxLength: 12 }), fc.boolean())
    .map(([frames, tail, withTail]) => Uint8Array.from([...frames.flatMap(f => [...encodeFrame(f)]), ...(withTail ? tail : [])])),
  fc.uint8Array({ maxLength: 2048 })
)
const cutsArb = fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 })
const listsArb = fc.array(fc.boolean(), { minLength: 1, maxLength: 4 })

describe('fuzz: length-prefixed frames (src/sync/exchange/framing.ts readFrames)', () => {
  it('yields the frames of the specification, then ends or refuses with ProtocolError where it does, for any bytes', async () => {
    await fc.assert(fc.asyncProperty(streamArb, fc.integer({ min: 0, max: 400 }), async (stream, maxLength) => {
      assert.deepStrictEqual(await read([stream], maxLength), model(stream, maxLength))
    }), fuzzParams())
  })

  it('yields the same frames and the same ending however the same byte stream is split into pieces', async () => {
    await fc.assert(fc.asyncProperty(streamArb, cutsArb, listsArb, fc.integer({ min: 0, max: 400 }), async (stream, cuts, lists, maxLength) => {
      const whole = await read([stream], maxLength)
      const pieces = split(stream, cuts, lists)
      assert.deepStrictEqual(await read(pieces, maxLength), whole)
    }), fuzzParams())
  })

  it('refuses a prefix declaring more than maxLength (up to 2^35 - 1) as soon as the prefix is read, asking the source for nothing more', async () => {
    const pieces = fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 4 })
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 1, max: 2 ** 35 - 1 }), pieces, cutsArb, async (
      maxLength,
      over,
      after,
      cuts
    ) => {
      const declared = Math.min(maxLength + over, 2 ** 35 - 1)
      fc.pre(declared > maxLength)
      const prefix = leb128(declared)
      const pieces = split(Uint8Array.from([...prefix, ...after.flat()]), cuts, [false])
      // the piece holding the prefix's last byte is the last one the source may be asked for
      let consumedBytes = 0
      let asked = 0
      const source = (async function * () {
        for (const p of pieces) {
          asked++
          consumedBytes += (p as Uint8Array).length
          yield p
        }
      })()
      await assert.rejects((async () => { for await (const f of readFrames(source, maxLength)) void f })(), (err: unknown) => {
        assertTyped(err, ['ERR_PROTOCOL'], 'readFrames')
        return true
      })
      assert.ok(consumedBytes - (pieces[asked - 1] as Uint8Array).length < prefix.length, `readFrames asked for ${consumedBytes} bytes past a ${prefix.length}-byte prefix declaring ${declared} > ${maxLength}`)
    }), fuzzParams())
  })

  // Found by this suite, now fixed: readFrames keeps a frame's pieces in an array and takes each one off with
  // `pieces.shift()`, which is linear in the array's length once it holds more than ~16K pieces (V8 cannot trim a
  // large array in place), so completing a frame of n pieces costs O(n^2) — synchronously, blocking the event loop.
  // A peer that sends one maximal (4 MiB) block-protocol frame in 1-byte (or 16-byte) pieces — small yamux data
  // frames do it — freezes the node for minutes. Measured: 65536 pieces 1-24 s, 262144 pieces (this test) 45-223 s;
  // with an index instead of shift() (and one splice per frame) 262144 pieces take 0.6 s. The reading runs in a
  // worker that reports the CPU time it spent (which a loaded machine does not stretch, as it does the wall clock),
  // and is stopped if still at it after a generous while, so this test cannot hang the suite.
  it('reassembles a maximal (4 MiB) frame delivered in 16-byte pieces in time linear in the pieces (a peer cannot stall the node)', async () => {
    const size = 4 << 20
    const pieceBytes = 16
    const cpuLimitMs = 10_000 // linear: under a second of CPU; quadratic: 45 s and more
    const giveUpMs = 120_000 // not a threshold: only a worker far past cpuLimitMs is still at it by then
    const framing = new URL('../../src/sync/exchange/framing.js', import.meta.url).href
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      import(workerData.framing).then(async ({ encodeFrame, readFrames }) => {
        const wire = encodeFrame(new Uint8Array(workerData.size).fill(7))
        const pieces = []
        for (let i = 0; i < wire.length; i += workerData.pieceBytes) pieces.push(wire.slice(i, i + workerData.pieceBytes))
        const started = process.threadCpuUsage()
        let length = -1
        for await (const f of readFrames(pieces, workerData.size)) length = f.length
        const cpu = process.threadCpuUsage(started)
        parentPort.postMessage({ length, cpuMs: (cpu.user + cpu.system) / 1000 })
      }, err => parentPort.postMessage({ error: String(err) }))`
    const worker = new Worker(code, { eval: true, workerData: { framing, size, pieceBytes } })
    try {
      const result = await new Promise<{ length?: number, cpuMs?: number, error?: string } | 'timeout'>((resolve, reject) => {
        const timer = setTimeout(() => resolve('timeout'), giveUpMs)
        worker.once('message', m => { clearTimeout(timer); resolve(m) })
        worker.once('error', err => { clearTimeout(timer); reject(err) })
      })
      const what = `reassembling a ${size}-byte frame from ${size / pieceBytes} pieces of ${pieceBytes} bytes`
      assert.notEqual(result, 'timeout', `${what} was still running after ${giveUpMs / 1000} s (quadratic in the pieces)`)
      if (result === 'timeout') return
      assert.equal(result.error, undefined)
      assert.equal(result.length, size)
      assert.ok(result.cpuMs! < cpuLimitMs, `${what} spent ${result.cpuMs!.toFixed(0)} ms of CPU (quadratic in the pieces)`)
    } finally {
      await worker.terminate()
    }
  })
})
