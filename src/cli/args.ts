import { CID } from 'multiformats/cid'
import { parseCid } from '../dag/cid.js'
import { CmeshError } from '../errors.js'
import { sizeInBytes } from '../repo/index.js'

/** A command line that cannot be understood: exit code 2. */
export class UsageError extends CmeshError {
  constructor (message: string) {
    super('ERR_USAGE', message)
  }
}

/** "10GB", "512MiB", "1000" -> bytes. */
export function parseSize (text: string, what: string): number {
  if (text.trim().startsWith('-')) throw new UsageError(`${what}: must not be negative, got ${text}`)
  const bytes = sizeInBytes(text)
  if (bytes === undefined) throw new UsageError(`${what}: expected a size like 10GB or 512MiB, got ${JSON.stringify(text)}`)
  return bytes
}

/** A non-negative integer option. */
export function parseCount (text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined
  if (text.trim().startsWith('-')) throw new UsageError(`${what}: must not be negative, got ${text}`)
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
