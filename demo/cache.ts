/**
 * The demo's community-cache step: a local web server stands in for the internet; neighbours ask it for the same
 * file at once and the community downloads it once; a latecomer gets it from a neighbour; with the link down the
 * cached file is still served, and an uncached one fails clearly.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createNode, type CmeshNode } from '../src/node/index.js'
import type { UrlResponse } from '../src/sync/cache/url-cache.js'
import { Origin } from '../test/helpers/origin.js'

const kb = (n: number): string => `${(n / 1000).toFixed(1)} kB`

async function drainBody (r: UrlResponse): Promise<number> {
  let n = 0
  for await (const chunk of r.body()) n += chunk.length
  return n
}

function describe (r: UrlResponse): string {
  if (r.source === 'origin') return `from the origin (${kb(r.externalBytes)} over the internet link)`
  if (r.source === 'peer') return `from neighbour ${r.from?.slice(-6) ?? ''} (${kb(r.peerBytes)} of blocks, verified against the signed CID)`
  return r.stale ? 'from its own cache, stale: the origin cannot be reached' : 'from its own cache'
}

export async function communityCacheDemo (repoRoot: string): Promise<void> {
  console.log('\n--- The community cache: one download from the internet for the whole neighbourhood ---\n')
  const require = createRequire(import.meta.url)
  const file = readFileSync(join(dirname(require.resolve('prettier-3.5.3/package.json')), 'index.mjs'))
  const origin = new Origin()
  await origin.start()
  origin.set('/npm/prettier-3.5.3/index.mjs', { bytes: file, headers: { 'cache-control': 'max-age=3600', 'content-type': 'text/javascript' } })
  origin.delayMs = 200 // a slow internet link: the requests overlap
  const url = origin.url('/npm/prettier-3.5.3/index.mjs')
  const names = ['lena', 'omar', 'pia', 'raj', 'sofia']
  const nodes: CmeshNode[] = []
  try {
    for (const name of names) {
      const n = await createNode({
        repo: join(
          repoRoot,
        `u-${name}`),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        minPeers: 0,
        urlCache: { statusIntervalMs: 300, prefetchIntervalMs: 0, allowLoopbackOrigins: true }
      })
      for (const other of nodes) await n.dial(other.addrs()[0]!)
      nodes.push(n)
    }
    const until = Date.now() + 15_000
    while (nodes.some(n => n.urlCache.community.memberCount() < names.length - 1) && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
    let community = 0
    for (const n of nodes) n.urlCache.on(e => { if (e.kind === 'peer') community += e.bytes })

    console.log(`  ${names.slice(0, 4).join(', ')} ask for ${url.replace(/^http:\/\/[^/]+/, '<origin>')} (${kb(file.length)}) at the same moment:`)
    const answers = await Promise.all(nodes.slice(0, 4).map(async n => await n.fetchUrl(url)))
    for (const [i, r] of answers.entries()) {
      await drainBody(r)
      console.log(`    ${names[i]!.padEnd(6)} got it ${describe(r)}`)
    }
    const late = await nodes[4]!.fetchUrl(url)
    await drainBody(late)
    console.log(`  ${names[4]} asks later and gets it ${describe(late)}`)
    const external = origin.bytesSent
    console.log(`\n  external bytes: ${kb(external)} (${origin.requests} request to the origin); community bytes: ${kb(community)} between neighbours`)
    console.log(`  without the cache: ${kb(file.length * names.length)} over the internet link, ${(100 * (1 - external / (file.length * names.length))).toFixed(0)} % saved`)

    await origin.stop()
    const offline = await nodes[1]!.fetchUrl(url)
    await drainBody(offline)
    console.log(`\n  The internet link goes down. ${names[1]} asks again and gets it ${describe(offline)}.`)
    try {
      await nodes[2]!.fetchUrl(origin.url('/npm/left-pad-1.3.0.tgz'))
    } catch (err) {
      console.log(`  ${names[2]} asks for a file nobody holds and is told at once: not cached by any neighbour, origin unreachable [${(err as { code?: string }).code ?? ''}]`)
    }
    console.log('\n  Who fetches from the origin is decided by rendezvous hashing weighted by free capacity (the URL\'s owner),')
    console.log('  so concurrent requests meet there; signed URL->CID claims travel by gossip, and a claim is trusted only')
    console.log('  once the bytes verify. Private responses (Authorization, Set-Cookie, no-store) are never shared.')
    console.log('  `cmesh proxy --port 3128` offers the same cache to unmodified devices as an HTTP proxy.')
  } finally {
    for (const n of nodes) await n.stop()
    await origin.stop()
  }
}
