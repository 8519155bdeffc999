import { CID } from 'multiformats/cid'

/**
 * Readers for records decoded from untrusted DAG-CBOR (announcements, release manifests): each checks one field's
 * shape and fails through `bad`, so every kind of record throws its own typed error with a message naming the field.
 */
export interface StrictReader {
  bad: (why: string) => never
  /** A map with exactly `keys`: no field missing, none extra (an extra field could smuggle unsigned meaning). */
  exact: (obj: unknown, keys: string[], what: string) => Record<string, unknown>
  /** A non-negative safe integer. */
  int: (v: unknown, what: string) => number
  /** A string matching `re`. */
  str: (v: unknown, re: RegExp, what: string) => string
  cid: (v: unknown, what: string) => CID
}

/** Strict readers that report a bad field by calling `fail` (which throws the caller's error). */
export function strictReader (fail: (why: string) => never): StrictReader {
  const bad: (why: string) => never = fail
  return {
    bad,
    exact (obj: unknown, keys: string[], what: string): Record<string, unknown> {
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || CID.asCID(obj) !== null || obj instanceof Uint8Array) bad(`${what} is not a map`)
      const have = Object.keys(obj)
      if (have.length !== keys.length || !keys.every(k => Object.hasOwn(obj, k))) bad(`${what} must have exactly ${keys.join(', ')}`)
      return obj as Record<string, unknown>
    },
    int (v: unknown, what: string): number {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${what} must be a non-negative integer`)
      return v
    },
    str (v: unknown, re: RegExp, what: string): string {
      if (typeof v !== 'string' || !re.test(v)) bad(`${what} is not valid`)
      return v
    },
    cid (v: unknown, what: string): CID {
      return CID.asCID(v) ?? bad(`${what} must be a CID`)
    }
  }
}
