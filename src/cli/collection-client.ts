import { callApi, daemonApi } from '../daemon/api.js'
import { createNode } from '../node/index.js'
import { resolveRepo } from '../store/index.js'
import { runCollectionOp, type CollectionOp } from '../sync/collections/collection-ops.js'
import type { CommandContext } from './context.js'

/**
 * Run a collection operation through the daemon running on the repository, which publishes at once; with no
 * daemon, on a node of our own that listens nowhere: a share is signed and stored in the repository, and
 * neighbours get it by anti-entropy when the daemon next runs.
 */
export async function collectionOp (ctx: CommandContext, op: CollectionOp): Promise<unknown> {
  const api = await daemonApi(resolveRepo(ctx.options.repo))
  if (api !== undefined) return await callApi(api, 'POST', '/api/v0/collections', Buffer.from(JSON.stringify(op)))
  const node = await createNode({ repo: ctx.options.repo, listen: [], mdns: false })
  try {
    return await runCollectionOp(node.collections, op)
  } finally {
    await node.stop()
  }
}
