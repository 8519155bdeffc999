/** The repository's directory under the home directory when neither an option nor $CMESH_REPO names one. */
export const DEFAULT_REPO_DIRNAME = '.cmesh'
/** The environment variable that names the repository directory. */
export const REPO_ENV = 'CMESH_REPO'
/** The repository's configuration file: its largest accepted size, in bytes. */
export const MAX_CONFIG_BYTES = 64 * 1024

/**
 * Every entry a repository holds, by what it is for. Only src/repo/ names them: a module that needs one asks
 * `repoPath(repo, 'trust')`, so the layout of a repository is written down in one place.
 */
export const REPO_ENTRIES = {
  /** The LMDB block store (blocks, index, refs, pins, roots). */
  store: 'store.mdb',
  /** Local counters and the privacy budget (LMDB). */
  metrics: 'metrics.mdb',
  /** The node's libp2p private key: the same peer after a restart. */
  identity: 'identity.key',
  /** User settings read by the library and the CLI (`capacity`, the daemon's `port`). */
  config: 'config.json',
  /** Peers this node was connected to, with their last good addresses: dialled again after a restart. */
  peers: 'peers.json',
  /** Fairness, priorities and analytics settings, reloaded while a daemon runs. */
  policy: 'policy.json',
  /** Which publisher keys are trusted for which release names. */
  trust: 'trust.json',
  /** Bytes sent to and received from each peer (reciprocation). */
  ledger: 'ledger.json',
  /** The releases installed, by name. */
  releases: 'releases.json',
  /** The signed bundles of installed releases, one file each. */
  bundles: 'releases',
  /** One file per joined community collection. */
  collections: 'collections',
  /** The community cache's URL -> CID index. */
  urlIndex: 'url-cache.json',
  /** The running daemon's control API address. */
  api: 'api',
  /** The bearer token of the control API (mode 0600). */
  apiToken: 'api-token'
} as const

export type RepoEntry = keyof typeof REPO_ENTRIES
