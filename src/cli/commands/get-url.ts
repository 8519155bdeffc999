import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { apiRequest, daemonApi } from '../../daemon/api.js'
import { CmeshError } from '../../errors.js'
import { createNode } from '../../node/index.js'
import { resolveRepo } from '../../store/index.js'
import { describeResponse } from '../../sync/cache/url-cache.js'
import { UsageError } from '../args.js'
import type { Command } from '../command.js'
import type { CommandContext } from '../context.js'

/** Write the body to `-o` (or stdout), then report. */
async function deliver (ctx: CommandContext, out: string | undefined, body: AsyncIterable<Uint8Array>, meta: Record<string, unknown>, via: string): Promise<void> {
  if (out !== undefined) await pipeline(Readable.from(body), createWriteStream(out))
  else if (!ctx.options.json) await pipeline(Readable.from(body), ctx.stdout as NodeJS.WritableStream, { end: false })
  else for await (const _ of body) { /* --json without -o: the metadata alone, the body drained */ }
  if (ctx.options.json) ctx.printJson(meta)
  else if (out !== undefined) {
    const from = meta.source === 'peer' ? `a peer (${String(meta.from)})` : meta.source === 'origin' ? 'the origin' : 'this node\'s cache'
    ctx.print(`${String(meta.url)}: ${String(meta.size)} bytes from ${from}${meta.stale === true ? ' (stale: the origin cannot be reached)' : ''}${meta.revalidated === true ? ' (revalidated)' : ''} -> ${out}${via}`)
  }
}

export const getUrl: Command = {
  name: 'get-url',
  summary: 'get a URL through the community cache (a member that holds it, its owner, else the origin)',
  usage: 'get-url <url> [-o FILE] [--bootstrap MULTIADDR]... [--no-mdns] [--json]',
  options: { output: { type: 'string', short: 'o' }, bootstrap: { type: 'string', multiple: true }, 'no-mdns': { type: 'boolean' }, listen: { type: 'string', multiple: true } },
  async run (ctx, values, [url]) {
    if (url === undefined) throw new UsageError('get-url: a URL is required')
    const out = values.output as string | undefined
    // through the daemon of this repo when one runs (its peers, its cache); otherwise a node of our own
    const api = await daemonApi(resolveRepo(ctx.options.repo))
    if (api !== undefined) {
      const res = await apiRequest(api, 'POST', `/api/v0/url?url=${encodeURIComponent(url)}`)
      if (!res.ok) {
        const body = await res.json() as { error?: string, code?: string }
        throw new CmeshError(body.code ?? 'ERR_DAEMON', body.error ?? `daemon answered ${res.status}`)
      }
      const meta = JSON.parse(decodeURIComponent(res.headers.get('x-cmesh-result') ?? '{}')) as Record<string, unknown>
      await deliver(ctx, out, res.body as unknown as AsyncIterable<Uint8Array>, meta, ' (through the daemon)')
      return
    }
    const node = await createNode({
      repo: ctx.options.repo,
      listen: (values.listen as string[] | undefined) ?? ['/ip4/0.0.0.0/tcp/0'],
      bootstrap: values.bootstrap as string[] | undefined,
      mdns: values['no-mdns'] !== true,
      urlCache: { prefetchIntervalMs: 0 }
    })
    try {
      const r = await node.fetchUrl(url)
      await deliver(ctx, out, r.body(), describeResponse(r), '')
    } finally {
      await node.stop()
    }
  }
}
