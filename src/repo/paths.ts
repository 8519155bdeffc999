import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { DEFAULT_REPO_DIRNAME, REPO_ENTRIES, REPO_ENV, type RepoEntry } from './constants.js'

/** The repository directory: `repo` when given, else $CMESH_REPO, else ~/.cmesh. */
export function resolveRepo (repo?: string): string {
  const env = process.env[REPO_ENV]
  if (repo !== undefined && repo !== '') return resolve(repo)
  if (env !== undefined && env !== '') return resolve(env)
  return join(homedir(), DEFAULT_REPO_DIRNAME)
}

/** The path of one of a repository's entries (see REPO_ENTRIES). */
export function repoPath (repo: string, entry: RepoEntry): string {
  return join(repo, REPO_ENTRIES[entry])
}
