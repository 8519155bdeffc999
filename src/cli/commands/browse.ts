import type { BrowseEntry } from '../../sync/collections/collections.js'
import type { Purpose } from '../../policy/collections/governance.js'
import { formatBytes, UsageError } from '../args.js'
import { collectionOp } from '../collection-client.js'
import type { Command } from '../command.js'

export const browse: Command = {
  name: 'browse',
  summary: 'list the resources in force in a collection, by tag, purpose or words',
  usage: 'browse <collection> [--tag T]... [--purpose P] [--text WORDS] [--publisher KEY] [--json]',
  options: { tag: { type: 'string', multiple: true }, purpose: { type: 'string' }, text: { type: 'string' }, publisher: { type: 'string' } },
  async run (ctx, values, [name]) {
    if (name === undefined) throw new UsageError('browse: missing <collection>')
    const list = await collectionOp(ctx, {
      op: 'browse',
      collection: name,
      query: {
        tag: values.tag as string[] | undefined,
        purpose: values.purpose as Purpose | undefined,
        text: values.text as string | undefined,
        publisher: values.publisher as string | undefined
      }
    }) as BrowseEntry[]
    if (ctx.options.json) ctx.printJson(list)
    else for (const e of list) ctx.print(`${e.purpose}\t${e.title}\t${e.id}\t${e.root}\t${formatBytes(e.size)}\t${e.status}${e.tags.length > 0 ? `\t#${e.tags.join(' #')}` : ''}`)
  }
}
