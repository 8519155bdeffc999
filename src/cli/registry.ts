import type { Command } from './command.js'

/**
 * One line of `cmesh --help` and how to load the command. A command's module is imported only when that command
 * runs, so `cmesh stat` loads the store and not the network stack (libp2p, gossipsub, the daemon's API).
 */
export interface CommandEntry {
  name: string
  /** A short line for the command list (the module's `summary` is the full one, shown by `cmesh <name> --help`). */
  brief: string
  load: () => Promise<Command>
}

/** Every command, in the order `cmesh --help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'add', brief: 'import a file or directory; prints its root CID', load: async () => (await import('./commands/add.js')).add },
  { name: 'get', brief: 'write a file or directory out of the store', load: async () => (await import('./commands/get.js')).get },
  { name: 'cat', brief: 'print a file, or a byte range of it', load: async () => (await import('./commands/cat.js')).cat },
  { name: 'ls', brief: 'list a directory', load: async () => (await import('./commands/ls.js')).ls },
  { name: 'export', brief: 'write the DAG under a CID to a CAR file', load: async () => (await import('./commands/export.js')).exportCommand },
  { name: 'import', brief: 'import a CAR file, verifying every block', load: async () => (await import('./commands/import.js')).importCommand },
  { name: 'pin', brief: 'keep a DAG safe from gc, or list pins', load: async () => (await import('./commands/pin.js')).pin },
  { name: 'unpin', brief: 'drop your pin of a DAG', load: async () => (await import('./commands/pin.js')).unpin },
  { name: 'gc', brief: 'remove blocks no pinned DAG references', load: async () => (await import('./commands/gc.js')).gc },
  { name: 'stat', brief: 'show the store: blocks, bytes, capacity, roots', load: async () => (await import('./commands/stat.js')).stat },
  { name: 'verify', brief: 're-hash every block and check complete roots', load: async () => (await import('./commands/verify.js')).verify },
  { name: 'daemon', brief: 'run a node that serves peers (gateway, API, metrics)', load: async () => (await import('./commands/daemon.js')).daemon },
  { name: 'fetch', brief: 'download a DAG from peers, verifying every block', load: async () => (await import('./commands/fetch.js')).fetch },
  { name: 'peers', brief: 'list peers, nearest first', load: async () => (await import('./commands/peers.js')).peers },
  { name: 'keygen', brief: 'make a publisher key', load: async () => (await import('./commands/keygen.js')).keygen },
  { name: 'publish', brief: 'import and publish a signed release', load: async () => (await import('./commands/publish.js')).publish },
  { name: 'trust', brief: 'trust, list or drop publisher keys for release names', load: async () => (await import('./commands/trust.js')).trust },
  { name: 'update', brief: 'install the newest trusted release of a name', load: async () => (await import('./commands/update.js')).update },
  { name: 'releases', brief: 'list the releases installed here', load: async () => (await import('./commands/releases.js')).releases },
  { name: 'collection', brief: 'join, list or leave community collections', load: async () => (await import('./commands/collection.js')).collection },
  { name: 'share', brief: 'import and announce a resource in a collection', load: async () => (await import('./commands/share.js')).share },
  { name: 'browse', brief: 'list the resources in force in a collection', load: async () => (await import('./commands/browse.js')).browse },
  { name: 'retract', brief: 'retract a resource from a collection', load: async () => (await import('./commands/retract.js')).retract },
  { name: 'get-url', brief: 'get a URL through the community cache', load: async () => (await import('./commands/get-url.js')).getUrl },
  { name: 'proxy', brief: 'run a node with a forward HTTP proxy', load: async () => (await import('./commands/proxy.js')).proxy },
  { name: 'report', brief: 'the community report from private aggregates', load: async () => (await import('./commands/report.js')).report },
  { name: 'stats', brief: 'per-peer ledger: bytes each way, ratio, choke state', load: async () => (await import('./commands/stats.js')).stats }
]
