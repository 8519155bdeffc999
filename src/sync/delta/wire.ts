/**
 * Delta protocol messages, DAG-CBOR in one length-prefixed frame each way:
 *   request  { wants: [{ cid, bases: [cid, ...] }, ...] }   a wanted block and the blocks the asker holds at its place
 *   answer   { deltas: [bytes | null, ...] }                  per want, in order: a delta against the bases joined in
 *                                                             order (codec.ts), or null: "no", fetch the block
 * Decoding is strict: exact keys, counts and sizes within the caps, CIDs of bounded length.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { MAX_CID_BYTES, ProtocolError } from '../exchange/wire.js'
import { MAX_BASE_BYTES, MAX_BASES, MAX_DELTA_MESSAGE, MAX_DELTA_TARGET, MAX_DELTA_WANTS } from './constants.js'

export interface DeltaWant {
  cid: CID
  bases: CID[]
}

/** A delta answer and the bytes it took on the wire (its frame). */
export interface DeltaReply {
  deltas: Array<Uint8Array | undefined>
  wireBytes: number
}

function exactMap (v: unknown, keys: string[], what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || CID.asCID(v) !== null ||
    Object.keys(v).length !== keys.length || !keys.every(k => Object.hasOwn(v, k))) {
    throw new ProtocolError(`${what} must be { ${keys.join(', ')} }`)
  }
  return v as Record<string, unknown>
}

function decode (bytes: Uint8Array, what: string): unknown {
  if (bytes.length > MAX_DELTA_MESSAGE) throw new ProtocolError(`${what} of ${bytes.length} bytes exceeds ${MAX_DELTA_MESSAGE}`)
  try {
    return dagCbor.decode(bytes)
  } catch (err) {
    throw new ProtocolError(`malformed ${what}: ${(err as Error).message}`)
  }
}

function cidOf (v: unknown): CID {
  const cid = CID.asCID(v)
  if (cid === null || cid.bytes.length > MAX_CID_BYTES) throw new ProtocolError('a delta want names something that is not a CID')
  return cid
}

export function encodeDeltaRequest (wants: DeltaWant[]): Uint8Array {
  return dagCbor.encode({ wants: wants.map(w => ({ cid: w.cid, bases: w.bases })) })
}

export function decodeDeltaRequest (bytes: Uint8Array): DeltaWant[] {
  const m = exactMap(decode(bytes, 'delta request'), ['wants'], 'delta request')
  if (!Array.isArray(m.wants) || m.wants.length === 0 || m.wants.length > MAX_DELTA_WANTS) {
    throw new ProtocolError(`a delta request wants 1 to ${MAX_DELTA_WANTS} blocks`)
  }
  return m.wants.map((w: unknown) => {
    const e = exactMap(w, ['cid', 'bases'], 'delta want')
    if (!Array.isArray(e.bases) || e.bases.length === 0 || e.bases.length > MAX_BASES) throw new ProtocolError(`a delta want names 1 to ${MAX_BASES} bases`)
    return { cid: cidOf(e.cid), bases: e.bases.map(cidOf) }
  })
}

export function encodeDeltaAnswer (deltas: Array<Uint8Array | undefined>): Uint8Array {
  return dagCbor.encode({ deltas: deltas.map(d => d ?? null) })
}

/** An answer to `wants` wants: a delta or undefined ("no") per want, each delta within the block size cap. */
export function decodeDeltaAnswer (bytes: Uint8Array, wants: number): Array<Uint8Array | undefined> {
  const m = exactMap(decode(bytes, 'delta answer'), ['deltas'], 'delta answer')
  if (!Array.isArray(m.deltas) || m.deltas.length !== wants) throw new ProtocolError(`a delta answer must answer the ${wants} wants`)
  return m.deltas.map((d: unknown) => {
    if (d === null) return undefined
    if (!(d instanceof Uint8Array) || d.length > MAX_DELTA_TARGET) throw new ProtocolError(`a delta must be bytes of at most ${MAX_DELTA_TARGET}`)
    return d
  })
}

/** Bytes one answer entry takes in an answer: a delta of `length` bytes (its CBOR header, then it), or "no". */
export function deltaAnswerBytes (length: number | undefined): number {
  if (length === undefined) return 1
  return length + (length < 24 ? 1 : length < 256 ? 2 : length < 65536 ? 3 : 5)
}

/** Bytes one want takes in a request. */
export function deltaRequestBytes (cid: CID, bases: CID[]): number {
  return dagCbor.encode({ cid, bases }).length
}

/** The bases joined in order, the source a delta is made against; undefined when one is missing or they are too large. */
export function joinBases (bases: Array<Uint8Array | undefined>): Uint8Array | undefined {
  let total = 0
  for (const b of bases) {
    if (b === undefined) return undefined
    total += b.length
  }
  if (total > MAX_BASE_BYTES) return undefined
  if (bases.length === 1) return bases[0]
  const out = new Uint8Array(total)
  let at = 0
  for (const b of bases) { out.set(b!, at); at += b!.length }
  return out
}
