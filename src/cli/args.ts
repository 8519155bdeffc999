import { CID } from 'multiformats/cid'
import { parseCid } from '../dag/cid.js'
import { CmeshError } from '../errors.js'

/** A command line that cannot be understood: exit code 2. */
export class UsageError extends CmeshError {
  constructor (message: string) {
    super('ERR_USAGE', message)
  }
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 }

/** "10GB", "512MiB", "1000" -> bytes. */
export function parseSize (text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()]
  if (m === null || unit === undefined) throw new UsageError(`${what}: expected a size like 10GB or 512MiB, got ${JSON.stringify(text)}`)
  return Math.floor(Number(m[1]) * unit)
}

/** A non-negative integer option. */
export function parseCount (text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`${what}: expected a non-negative integer, got ${JSON.stringify(text)}`)
  return Number(text)
}

/** "<cid>" or "<cid>/path/inside" (also accepts a leading /ipfs/). */
export function parseCidPath (text: string | undefined, command: string): { cid: CID, path: string } {
  if (text === undefined || text === '') throw new UsageError(`${command}: missing <cid>`)
  const stripped = text.replace(/^\/ipfs\//, '')
  const slash = stripped.indexOf('/')
  const cid = parseCid(slash === -1 ? stripped : stripped.slice(0, slash))
  return { cid, path: slash === -1 ? '' : stripped.slice(slash + 1) }
}

export function formatBytes (n: number): string {
  if (!Number.isFinite(n)) return 'unlimited'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  let v = n
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++ }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}
