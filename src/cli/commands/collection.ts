import { MAX_GOVERNANCE_BYTES } from '../../policy/collections/constants.js'
import { readCapped } from '../../store/read-capped.js'
import { GovernanceError, TooLargeError } from '../../errors.js'
import type { CollectionInfo } from '../../sync/collections/collections.js'
import { formatBytes, parseSize, UsageError } from '../args.js'
import { collectionOp } from '../collection-client.js'
import type { Command } from '../command.js'

export const collection: Command = {
  name: 'collection',
  summary: 'join a community collection from its governance file, list the joined ones, or leave one',
  usage: 'collection join <governance.json> [--budget SIZE] | collection ls | collection leave <name>',
  options: { budget: { type: 'string' } },
  async run (ctx, values, [sub, arg]) {
    if (sub === 'join') {
      if (arg === undefined) throw new UsageError('collection join: missing <governance.json>')
      let document: unknown
      try {
        document = JSON.parse((await readCapped(arg, MAX_GOVERNANCE_BYTES, 'governance document')).toString('utf8'))
      } catch (err) {
        if (err instanceof TooLargeError) throw err
        throw new GovernanceError(`cannot read ${arg}: ${(err as Error).message}`)
      }
      const budget = typeof values.budget === 'string' ? parseSize(values.budget, '--budget') : undefined
      const info = await collectionOp(ctx, { op: 'join', document, budget }) as CollectionInfo
      if (ctx.options.json) ctx.printJson(info)
      else ctx.print(`joined ${info.name} (${info.topic}), budget ${formatBytes(info.budget ?? Infinity)}`)
    } else if (sub === 'ls') {
      const list = await collectionOp(ctx, { op: 'list' }) as CollectionInfo[]
      if (ctx.options.json) ctx.printJson(list)
      else for (const c of list) ctx.print(`${c.name}\t${c.synced}/${c.resources} synced\t${formatBytes(c.bytes)} of ${formatBytes(c.budget ?? Infinity)}\t${c.peers} peer(s)`)
    } else if (sub === 'leave') {
      if (arg === undefined) throw new UsageError('collection leave: missing <name>')
      await collectionOp(ctx, { op: 'leave', name: arg })
      if (!ctx.options.json) ctx.print(`left ${arg}`)
    } else {
      throw new UsageError('collection: expected join, ls or leave')
    }
  }
}
