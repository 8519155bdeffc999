import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { ConfigError, RepoError } from '../errors.js'
import { MAX_CONFIG_BYTES } from './constants.js'
import { repoPath } from './paths.js'

/** What `<repo>/config.json` sets. Every field is optional; an absent file sets nothing. */
export interface RepoConfig {
  /** Store capacity in bytes (written as a number of bytes or a size like "10GB"). */
  capacity?: number
  /** TCP port a daemon listens on when not told otherwise; written on its first start (see rememberPort). */
  port?: number
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4
}

/** "10GB", "512MiB", "1000" -> bytes; undefined when `text` is not a size. */
export function sizeInBytes (text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()]
  if (m === null || unit === undefined) return undefined
  return Math.floor(Number(m[1]) * unit)
}

/**
 * Read `<repo>/config.json`. A missing file is an empty configuration; a file that cannot be read or parsed is a
 * RepoError, a field of the wrong type a ConfigError, so a typo never silently means "unlimited".
 */
export function readRepoConfig (repo: string): RepoConfig {
  const file = repoPath(repo, 'config')
  const raw = readRaw(file)
  if (raw === undefined) return {}
  const { capacity, port } = raw as { capacity?: unknown, port?: unknown }
  const config: RepoConfig = {}
  if (port !== undefined) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${file}: port must be a TCP port, 1 to 65535`)
    config.port = port
  }
  if (capacity === undefined) return config
  if (typeof capacity === 'number' && Number.isSafeInteger(capacity) && capacity >= 0) config.capacity = capacity
  else if (typeof capacity === 'string' && sizeInBytes(capacity) !== undefined) config.capacity = sizeInBytes(capacity)
  else throw new ConfigError(`${file}: capacity must be a number of bytes or a size like "10GB"`)
  return config
}

/**
 * Write the port a daemon listened on into `<repo>/config.json`, keeping every other field, so after a restart it
 * listens on the same port and the addresses its neighbours remember still reach it.
 */
export function rememberPort (repo: string, port: number): void {
  const file = repoPath(repo, 'config')
  const raw = readRaw(file) ?? {}
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ ...raw, port }, null, 2) + '\n')
  renameSync(tmp, file)
}

/** The configuration file's JSON object; undefined when there is no file. */
function readRaw (file: string): Record<string, unknown> | undefined {
  let text: string
  try {
    const bytes = readFileSync(file)
    if (bytes.length > MAX_CONFIG_BYTES) throw new ConfigError(`${file}: larger than ${MAX_CONFIG_BYTES} bytes`)
    text = bytes.toString('utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (err instanceof ConfigError) throw err
    throw new RepoError(`cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new RepoError(`cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${file}: expected a JSON object`)
  return raw as Record<string, unknown>
}
