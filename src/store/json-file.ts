import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { RepoError } from '../errors.js'

/** Read a small JSON file of the repository, or `fallback` when it does not exist. */
export function readJsonFile<T> (path: string, fallback: T): T {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback
    throw new RepoError(`cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    return JSON.parse(text) as T
  } catch (err) {
    throw new RepoError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
}

/** Write a small JSON file through a temp file and a rename: a crash leaves the old or the new, never half. */
export function writeJsonFile (path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n')
  renameSync(tmp, path)
}
