/**
 * The repository: where it lives (`resolveRepo`), what it holds (`REPO_ENTRIES`, `repoPath`) and what its
 * `config.json` sets (`readRepoConfig`). The library and the CLI read a repository's configuration the same way.
 */
export { DEFAULT_REPO_DIRNAME, REPO_ENV, REPO_ENTRIES, MAX_CONFIG_BYTES, type RepoEntry } from './constants.js'
export { resolveRepo, repoPath } from './paths.js'
export { readRepoConfig, rememberPort, sizeInBytes, type RepoConfig } from './config.js'
