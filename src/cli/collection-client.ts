import type { CollectionOp } from '../sync/collections/collection-ops.js'
import type { CommandContext } from './context.js'

/**
 * Run a collection operation through the daemon running on the repository, which publishes at once; with no
 * daemon, on a node of our own that listens nowhere: a share is signed and stored in the repository, and
 * neighbours get it by anti-entropy when the daemon next runs.
 */
export async function collectionOp (ctx: CommandContext, op: CollectionOp): Promise<unknown> {
  return await (await ctx.nodeClient({ listen: [], mdns: false })).collection(op)
}
