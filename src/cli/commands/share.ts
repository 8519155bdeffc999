import { resolve } from 'node:path'
import type { PublishedAnnouncement } from '../../sync/collections/collections.js'
import { parseCount, UsageError } from '../args.js'
import { collectionOp } from '../collection-client.js'
import type { Command } from '../command.js'

const DAY_MS = 24 * 3600 * 1000

export const share: Command = {
  name: 'share',
  summary: 'import a file or directory and announce it in a collection, signed (sharing an id again updates it)',
  usage: 'share <path> --collection C --key KEYFILE --title T --purpose notice|education|media|software|other [--tag T]... [--id ID] [--lang L] [--license L] [--expires-days D]',
  options: {
    collection: { type: 'string' },
    key: { type: 'string' },
    title: { type: 'string' },
    purpose: { type: 'string' },
    tag: { type: 'string', multiple: true },
    id: { type: 'string' },
    lang: { type: 'string' },
    license: { type: 'string' },
    'expires-days': { type: 'string' }
  },
  async run (ctx, values, [path]) {
    if (path === undefined) throw new UsageError('share: missing <path>')
    for (const o of ['collection', 'key', 'title', 'purpose']) if (typeof values[o] !== 'string') throw new UsageError(`share: missing --${o}`)
    const days = parseCount(values['expires-days'] as string | undefined, 'share: --expires-days')
    const r = await collectionOp(ctx, {
      op: 'share',
      path: resolve(path),
      collection: values.collection as string,
      keyFile: resolve(values.key as string),
      title: values.title as string,
      purpose: values.purpose as string,
      tags: values.tag as string[] | undefined,
      id: values.id as string | undefined,
      lang: values.lang as string | undefined,
      license: values.license as string | undefined,
      expires: days === undefined ? undefined : Date.now() + days * DAY_MS
    }) as PublishedAnnouncement
    if (ctx.options.json) ctx.printJson(r)
    else ctx.print(`shared ${r.id} seq ${r.seq} in ${r.collection}: ${r.root ?? ''} (${r.recipients} peer(s) told)`)
  }
}
