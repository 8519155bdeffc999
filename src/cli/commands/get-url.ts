import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { UsageError } from '../args.js'
import type { Command } from '../command.js'
import { networkOptions, type CommandContext } from '../context.js'

/** Write the body to `-o` (or stdout), then report. */
async function deliver (
  ctx: CommandContext,
  out: string | undefined,
  body: AsyncIterable<Uint8Array>,
  meta: Record<string,
  unknown>,
  via: string
): Promise<void> {
  if (out !== undefined) await pipeline(Readable.from(body), createWriteStream(out))
  else if (!ctx.options.json) await pipeline(Readable.from(body), ctx.stdout as NodeJS.WritableStream, { end: false })
  else for await (const _ of body) { /* --json without -o: the metadata alone, the body drained */ }
  if (ctx.options.json) ctx.printJson(meta)
  else if (out !== undefined) {
    const from = meta.source === 'peer' ? `a peer (${String(meta.from)})` : meta.source === 'origin' ? 'the origin' : 'this node\'s cache'
    ctx.print(`${String(meta.url)}: ${String(meta.size)} bytes from ${from} [${String(meta.cache)}]${meta.stale === true ? ' (stale: the origin cannot be reached)' : ''}${meta.revalidated === true ? ' (revalidated)' : ''} -> ${out}${via}`)
  }
}

export const getUrl: Command = {
  name: 'get-url',
  summary: 'get a URL through the community cache (a member that holds it, its owner, else the origin)',
  usage: 'get-url <url> [-o FILE] [--bootstrap MULTIADDR]... [--no-mdns] [--json]',
  options: {
    output: { type: 'string', short: 'o' },
    bootstrap: { type: 'string', multiple: true },
    'no-mdns': { type: 'boolean' },
    listen: { type: 'string', multiple: true }
  },
  async run (ctx, values, [url]) {
    if (url === undefined) throw new UsageError('get-url: a URL is required')
    // through the daemon of this repo when one runs (its peers, its cache); otherwise a node of our own
    const client = await ctx.nodeClient({ ...networkOptions(values, ['/ip4/0.0.0.0/tcp/0']), urlCache: { prefetchIntervalMs: 0 } })
    const r = await client.fetchUrl(url)
    await deliver(ctx, values.output as string | undefined, r.body, r.meta, client.via === 'daemon' ? ' (through the daemon)' : '')
  }
}
