/** One choice for a command: the daemon running on the repository when one answers, else a node of its own. */
import { resolveRepo } from '../store/index.js'
import type { NodeClient, NodeClientOptions } from './contract.js'
import { DaemonClient } from './daemon-client.js'
import { daemonApi } from './endpoint.js'

/**
 * The node a command talks to: the daemon of the repository (its peers, its cache, its progress streamed back) when
 * one answers, else a node of the command's own, started with `options.node` when first needed and stopped by
 * `close()`. A daemon that refuses the repository's token is an error (ERR_API_AUTH), not a reason to start a node.
 */
export async function openNodeClient (options: NodeClientOptions = {}): Promise<NodeClient> {
  const api = await daemonApi(resolveRepo(options.repo))
  if (api !== undefined) return new DaemonClient(api)
  // the network stack loads only for a node of our own: a command the daemon answers starts in a tenth of the time
  const { OwnNodeClient } = await import('./own-client.js')
  return new OwnNodeClient(options)
}
