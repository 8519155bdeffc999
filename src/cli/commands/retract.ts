import { resolve } from 'node:path'
import type { PublishedAnnouncement } from '../../sync/collections/collections.js'
import { UsageError } from '../args.js'
import { collectionOp } from '../collection-client.js'
import type { Command } from '../command.js'

export const retract: Command = {
  name: 'retract',
  summary: "retract a resource from a collection: one's own, or another publisher's with a moderator key",
  usage: 'retract <id> --collection C --key KEYFILE [--publisher KEY]',
  options: { collection: { type: 'string' }, key: { type: 'string' }, publisher: { type: 'string' } },
  async run (ctx, values, [id]) {
    if (id === undefined) throw new UsageError('retract: missing <id>')
    if (typeof values.collection !== 'string') throw new UsageError('retract: missing --collection')
    if (typeof values.key !== 'string') throw new UsageError('retract: missing --key')
    const r = await collectionOp(ctx, {
      op: 'retract',
      collection: values.collection,
      keyFile: resolve(values.key),
      id,
      publisher: values.publisher as string | undefined
    }) as PublishedAnnouncement
    if (ctx.options.json) ctx.printJson(r)
    else ctx.print(`retracted ${id} in ${r.collection} (${r.recipients} peer(s) told)`)
  }
}
