import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { CID } from 'multiformats/cid'
import { importBytes } from '../../../src/dag/importer.js'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { describeResponse, type CacheEvent, type UrlCacheOptions } from '../../../src/sync/cache/url-cache.js'
import { Origin } from '../../helpers/origin.js'
import { collect, pseudoRandom, tempDir } from '../../helpers/temp.js'
import { waitFor } from '../../helpers/wait.js'

async function startOrigin (t: TestContext): Promise<Origin> {
  const origin = new Origin()
  await origin.start()
  t.after(async () => await origin.stop())
  return origin
}

/** `n` nodes on loopback, each connected to every other, that know each other as cache members. */
// Members that have not gossiped for 3 status intervals are dropped from the owner choice: a test that needs every
// member to agree on a URL's owner uses a longer interval, so a loaded machine's late gossip cannot split the view.
const STEADY = { statusIntervalMs: 3000 }

async function community (t: TestContext, n: number, options: UrlCacheOptions = {}, repos?: string[]): Promise<CmeshNode[]> {
  const nodes: CmeshNode[] = []
  for (let i = 0; i < n; i++) {
    const node = await createNode({
      repo: repos?.[i] ?? join(tempDir(t), 'repo'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      minPeers: 0,
      urlCache: { statusIntervalMs: 300, prefetchIntervalMs: 0, allowLoopbackOrigins: true, ...options }
    })
    t.after(async () => await node.stop().catch(() => {}))
    for (const other of nodes) await node.dial(other.addrs()[0]!)
    nodes.push(node)
  }
  await waitFor(() => nodes.every(x => x.urlCache.community.memberCount() === n - 1), { what: 'every member to hear every other' })
  return nodes
}

const body = async (r: { body: () => AsyncIterable<Uint8Array> }): Promise<Uint8Array> => new Uint8Array(await collect(r.body()))

describe('community cache', () => {
  it('downloads a URL once from the origin when several members ask for it at the same time', async t => {
    const origin = await startOrigin(t)
    const bytes = pseudoRandom(300_000, 7)
    origin.set('/pkg.tar', { bytes, headers: { 'cache-control': 'max-age=3600' } })
    origin.delayMs = 300 // every request is still running when the others arrive
    const nodes = await community(t, 4, STEADY)
    const events: CacheEvent[] = []
    for (const n of nodes) n.urlCache.on(e => events.push(e))
    const answers = await Promise.all(nodes.slice(0, 3).map(async n => await n.fetchUrl(origin.url('/pkg.tar'))))
    for (const a of answers) assert.deepEqual(await body(a), bytes)
    assert.equal(origin.requestsByPath.get('/pkg.tar'), 1, 'one request reached the origin')
    assert.equal(origin.bytesSent, bytes.length)
    assert.ok(answers.filter(a => a.source === 'origin').length <= 1, 'the others got it from a member (the owner may be the one that did not ask)')
    assert.ok(answers.some(a => a.source === 'peer'))
    assert.equal(events.filter(e => e.kind === 'external').reduce((s, e) => s + e.bytes, 0), bytes.length)
    // a member that did not ask yet gets it from the community as well
    const late = await nodes[3]!.fetchUrl(origin.url('/pkg.tar'))
    assert.deepEqual(await body(late), bytes)
    assert.notEqual(late.source, 'origin')
    assert.equal(origin.requestsByPath.get('/pkg.tar'), 1)
    // and a second request is a local hit
    const again = await nodes[3]!.fetchUrl(origin.url('/pkg.tar'))
    assert.equal(again.source, 'local')
    assert.equal(origin.requestsByPath.get('/pkg.tar'), 1)
    assert.equal(describeResponse(again).source, 'local')
    assert.equal(describeResponse(again).size, bytes.length)
    const stats = nodes[3]!.urlCache.stats()
    // (the late member may be the URL's owner, which fetched it for the others: then both of its requests were hits)
    assert.equal(stats.hits, [late, again].filter(r => r.source === 'local').length)
    assert.equal(stats.entries, 1)
    assert.equal(stats.members, 4)
    assert.ok(stats.peerBytes + stats.externalBytes >= bytes.length)
  })

  it('keeps one ledger: origin bytes once, where they crossed the link; saved bytes once, at the node that asked', async t => {
    const origin = await startOrigin(t)
    const bytes = pseudoRandom(200_000, 17)
    origin.set('/iso', { bytes, headers: { 'cache-control': 'max-age=3600' } })
    origin.delayMs = 300
    const nodes = await community(t, 4, STEADY)
    const url = origin.url('/iso')
    const answers = await Promise.all(nodes.slice(0, 3).map(async n => await n.fetchUrl(url)))
    for (const a of answers) assert.deepEqual(await body(a), bytes)
    answers.push(await nodes[3]!.fetchUrl(url), await nodes[3]!.fetchUrl(url))
    assert.equal(origin.bytesSent, bytes.length)
    // one request made the origin download (here, or at the owner that fetched it for this request): that one MISS
    assert.deepEqual(answers.map(a => a.cache).filter(c => c === 'MISS'), ['MISS'])
    assert.ok(answers.slice(0, 3).some(a => a.cache === 'MEMBER'), 'a member served another asker without the origin')
    assert.equal(answers[4]!.cache, 'HIT')
    for (const a of answers) {
      assert.equal(a.cache === 'HIT', a.source === 'local')
      assert.equal(a.savedBytes, a.cache === 'MISS' ? 0 : bytes.length)
      assert.equal(a.storeBytes, a.cache === 'HIT' ? bytes.length : 0)
      assert.equal(describeResponse(a).cache, a.cache)
    }
    assert.equal(answers.reduce((s, a) => s + a.externalBytes, 0), bytes.length, 'the origin bytes on the one request they were for')
    // the nodes' counters: origin bytes where they were downloaded, saved bytes counted once for the community
    const stats = nodes.map(n => n.urlCache.stats())
    const sum = (k: 'externalBytes' | 'savedBytes' | 'storeBytes' | 'peerBytes'): number => stats.reduce((s, x) => s + x[k], 0)
    assert.equal(sum('externalBytes'), bytes.length)
    assert.equal(sum('savedBytes'), (answers.length - 1) * bytes.length)
    assert.equal(sum('storeBytes'), answers.filter(a => a.cache === 'HIT').length * bytes.length)
    assert.ok(sum('peerBytes') > 0)
    const totals = nodes.map(n => n.analytics.totals())
    const total = (name: string): number => totals.reduce((s, x) => s + (x[name] ?? 0), 0)
    assert.equal(total('cache.origin.bytes'), bytes.length)
    assert.equal(total('external.bytes.saved'), sum('savedBytes'))
    assert.equal(total('cache.store.bytes'), sum('storeBytes'))
    assert.equal(total('cache.member.bytes'), sum('peerBytes'))
  })

  it('never stores or shares private responses', async t => {
    const origin = await startOrigin(t)
    origin.set('/account', { bytes: pseudoRandom(5000, 1), headers: { 'cache-control': 'max-age=3600' } })
    origin.set('/cookie', { bytes: pseudoRandom(5000, 2), headers: { 'cache-control': 'max-age=3600', 'set-cookie': 'session=abc' } })
    origin.set('/private', { bytes: pseudoRandom(5000, 3), headers: { 'cache-control': 'private, max-age=3600' } })
    origin.set('/no-store', { bytes: pseudoRandom(5000, 4), headers: { 'cache-control': 'no-store' } })
    const [a, b] = await community(t, 2)
    const auth = { authorization: 'Bearer alice' }
    for (const [path, headers] of [['/account', auth], ['/cookie', {}], ['/private', {}], ['/no-store', {}]] as const) {
      const first = await a!.fetchUrl(origin.url(path), { headers })
      assert.deepEqual(await body(first), origin.objects.get(path)!.bytes, path)
      assert.equal(first.shared, false, path)
      assert.equal(first.cid, undefined, path)
      const second = await b!.fetchUrl(origin.url(path), { headers })
      assert.deepEqual(await body(second), origin.objects.get(path)!.bytes, path)
      // a credentialed request never leaves its member; a private response is found out by whoever asks first
      // (the URL's owner may have probed it once), and from then on each member fetches its own
      const seen = origin.requestsByPath.get(path)!
      assert.ok(seen === 2 || (seen === 3 && path !== '/account'), `${path}: ${seen} origin requests`)
      for (const n of [a!, b!]) {
        const r = await n.fetchUrl(origin.url(path), { headers })
        assert.equal(r.source, 'origin', path)
        await body(r)
      }
      assert.equal(origin.requestsByPath.get(path), seen + 2, `${path}: every later request goes to the origin`)
      assert.equal(a!.urlCache.community.claimsFor(origin.url(path)).length + b!.urlCache.community.claimsFor(origin.url(path)).length, 0, `${path}: nothing claimed`)
      assert.equal(a!.urlCache.index.get(origin.url(path)), undefined, path)
      assert.equal(b!.urlCache.index.get(origin.url(path)), undefined, path)
    }
    assert.equal(origin.lastRequest.get('/account')?.authorization, 'Bearer alice', 'credentials reach the origin')
    // the private request never entered the index, so an anonymous request is a plain miss
    const before = origin.requestsByPath.get('/account')!
    const anonymous = await b!.fetchUrl(origin.url('/account'))
    assert.notEqual(anonymous.source, 'local')
    assert.equal(origin.requestsByPath.get('/account'), before + 1)
    assert.equal(origin.lastRequest.get('/account')?.authorization, undefined, 'no credentials in a shared request')
  })

  it('does not share URLs of this machine or the LAN (by resolved address) nor fetch them for a peer', async t => {
    const origin = await startOrigin(t)
    origin.set('/local', { bytes: pseudoRandom(3000, 5), headers: { 'cache-control': 'max-age=3600' } })
    const [a, b] = await community(t, 2, { allowLoopbackOrigins: false })
    // every spelling of this machine: fetched for the local user, never stored as shared content
    const urls = [origin.url('/local'), `http://0.0.0.0:${origin.port}/local`, `http://[::ffff:127.0.0.1]:${origin.port}/local`, `http://localhost:${origin.port}/local`]
    for (const url of urls) {
      const r = await a!.fetchUrl(url)
      assert.deepEqual(await body(r), pseudoRandom(3000, 5), url)
      assert.equal(r.shared, false, url)
      assert.equal(a!.urlCache.index.get(r.url), undefined, url)
    }
    assert.equal(a!.urlCache.index.size, 0)
    for (const url of [...urls, `http://localhost.:${origin.port}/local`, `http://[::]:${origin.port}/local`, 'http://192.168.1.1/admin', 'http://169.254.169.254/latest/meta-data/']) {
      await assert.rejects(
        b!.urlCache.community.ask(a!.peerId.toString(), url, true),
        (err: Error & { code?: string }) => err.code === 'ERR_FORBIDDEN_DESTINATION',
        url
      )
    }
    assert.equal(origin.requestsByPath.get('/local'), urls.length, 'no peer\'s request reached the origin')
  })

  it('weights ownership by the free capacity members gossip', async t => {
    const budgets = [1e6, 2e6, 4e6]
    const nodes: CmeshNode[] = []
    for (const cacheBytes of budgets) {
      const n = await createNode({
        repo: join(tempDir(t), 'repo'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        minPeers: 0,
        urlCache: { cacheBytes, owners: 1, statusIntervalMs: 300, prefetchIntervalMs: 0 }
      })
      t.after(async () => await n.stop().catch(() => {}))
      for (const other of nodes) await n.dial(other.addrs()[0]!)
      nodes.push(n)
    }
    await waitFor(() => nodes.every(x => x.urlCache.community.memberCount() === 2), { what: 'every member to hear every other' })
    const urls = Array.from({ length: 3000 }, (_, i) => `http://deb.example/pool/p${i}.deb`)
    // a member weighs the others by the last status it heard from each (a view refreshed every 500 ms): on a loaded
    // machine one view may lag a status behind, so what holds is that the views converge on one owner per URL
    const agreed = await waitFor(() => {
      const first = urls.map(u => nodes[0]!.urlCache.owners(u)[0])
      return nodes.every(n => urls.every((u, i) => n.urlCache.owners(u)[0] === first[i])) ? first : undefined
    }, { what: 'every member to compute the same owner for every URL' })
    const counts = new Map<string, number>()
    for (const owner of agreed) counts.set(owner!, (counts.get(owner!) ?? 0) + 1)
    for (const [i, n] of nodes.entries()) {
      const share = (counts.get(n.peerId.toString()) ?? 0) / urls.length
      assert.ok(Math.abs(share - budgets[i]! / 7e6) < 0.05, `a node with ${budgets[i]!} bytes owns ${share.toFixed(3)} of the URLs`)
    }
  })

  it('downloads for a member only what it owns', async t => {
    const origin = await startOrigin(t)
    const [a, b] = await community(t, 2, { owners: 1 })
    // a URL that b owns: a may not be made to download it
    let path = ''
    for (let i = 0; path === ''; i++) if (a!.urlCache.owners(origin.url(`/f${i}`))[0] === b!.peerId.toString()) path = `/f${i}`
    origin.set(path, { bytes: pseudoRandom(1000, 6), headers: { 'cache-control': 'max-age=60' } })
    await assert.rejects(b!.urlCache.community.ask(
      a!.peerId.toString(),
      origin.url(path),
      true
    ), (err: Error & { code?: string }) => err.code === 'ERR_NOT_OWNER')
    assert.equal(origin.requests, 0)
    // what a owns, it fetches when asked
    let mine = ''
    for (let i = 0; mine === ''; i++) if (a!.urlCache.owners(origin.url(`/g${i}`))[0] === a!.peerId.toString()) mine = `/g${i}`
    origin.set(mine, { bytes: pseudoRandom(1000, 7), headers: { 'cache-control': 'max-age=60' } })
    const claim = await b!.urlCache.community.ask(a!.peerId.toString(), origin.url(mine), true)
    assert.equal(claim?.size, 1000)
    assert.equal(origin.requests, 1)
  })

  it('revalidates a stale response with its ETag and honours max-age', async t => {
    const origin = await startOrigin(t)
    const bytes = pseudoRandom(50_000, 9)
    origin.set('/fresh', { bytes, headers: { 'cache-control': 'max-age=3600' } })
    origin.set('/stale', { bytes, headers: { 'cache-control': 'max-age=0' } })
    const [a] = await community(t, 1)
    await body(await a!.fetchUrl(origin.url('/fresh')))
    const fresh = await a!.fetchUrl(origin.url('/fresh'))
    assert.equal(fresh.source, 'local')
    assert.equal(origin.requestsByPath.get('/fresh'), 1, 'a fresh response is served without asking the origin')
    await body(await a!.fetchUrl(origin.url('/stale')))
    const sent = origin.bytesSent
    const revalidated = await a!.fetchUrl(origin.url('/stale'))
    assert.equal(revalidated.revalidated, true)
    assert.deepEqual(await body(revalidated), bytes)
    assert.equal(origin.requestsByPath.get('/stale'), 2)
    assert.equal(origin.lastRequest.get('/stale')?.['if-none-match'], revalidated.headers.etag)
    assert.equal(origin.bytesSent, sent, 'a 304 moves no body')
    // the origin changes the content: the next revalidation gets the new bytes
    const changed = pseudoRandom(40_000, 10)
    origin.set('/stale', { bytes: changed, headers: { 'cache-control': 'max-age=0' } })
    const updated = await a!.fetchUrl(origin.url('/stale'))
    assert.equal(updated.source, 'origin')
    assert.deepEqual(await body(updated), changed)
  })

  it('serves cached content offline and fails clearly for what nobody holds', async t => {
    const origin = await startOrigin(t)
    const bytes = pseudoRandom(80_000, 11)
    origin.set('/held', { bytes, headers: { 'cache-control': 'max-age=0' } })
    origin.set('/never', { bytes: pseudoRandom(1000, 12) })
    const [a, b] = await community(t, 2)
    await body(await a!.fetchUrl(origin.url('/held')))
    await origin.stop() // the internet link goes down
    const stale = await a!.fetchUrl(origin.url('/held'))
    assert.equal(stale.stale, true)
    assert.deepEqual(await body(stale), bytes)
    await assert.rejects(b!.fetchUrl(origin.url('/never')), (err: Error & { code?: string }) => err.code === 'ERR_URL_UNAVAILABLE')
    await assert.rejects(a!.fetchUrl('ftp://example.org/x'), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_URL')
  })

  it('keeps its index across a restart and serves it with the origin gone', async t => {
    const origin = await startOrigin(t)
    const bytes = pseudoRandom(20_000, 13)
    origin.set('/keep', { bytes, headers: { 'cache-control': 'max-age=3600' } })
    const repo = join(tempDir(t), 'repo')
    const [a] = await community(t, 1, {}, [repo])
    await body(await a!.fetchUrl(origin.url('/keep')))
    await a!.stop()
    await origin.stop()
    const again = await createNode({
      repo,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      minPeers: 0,
      urlCache: { prefetchIntervalMs: 0, allowLoopbackOrigins: true }
    })
    t.after(async () => await again.stop().catch(() => {}))
    const r = await again.fetchUrl(origin.url('/keep'))
    assert.equal(r.source, 'local')
    assert.deepEqual(await body(r), bytes)
  })

  it('evicts by popularity within its budget and never touches pinned content', async t => {
    const origin = await startOrigin(t)
    for (const name of [
      'a',
      'b',
      'c',
      'd',
      'e'
    ]) origin.set(`/${name}`, { bytes: pseudoRandom(10_000, name.charCodeAt(0)), headers: { 'cache-control': 'max-age=3600' } })
    const [node] = await community(t, 1, { cacheBytes: 25_000 })
    const evicted: string[] = []
    node!.urlCache.on(e => { if (e.kind === 'evict') evicted.push(e.url) })
    const get = async (name: string): Promise<CID> => (await node!.fetchUrl(origin.url(`/${name}`))).cid!
    await get('a')
    await get('b')
    await get('b')
    await get('b') // b is popular
    await get('c') // a + b + c = 30 KB > 25 KB: the least valuable unpinned one goes
    const held = (name: string): boolean => node!.urlCache.index.get(origin.url(`/${name}`)) !== undefined
    assert.ok(held('b'), 'the popular object stays')
    assert.ok(node!.urlCache.index.usedBytes <= 25_000)
    // content pinned before the cache got it is protected
    const d = pseudoRandom(10_000, 'd'.charCodeAt(0))
    const imported = await node!.add(await writeTemp(t, d))
    assert.ok(node!.store.isPinned(imported.cid))
    await get('d')
    await get('a')
    await get('c')
    assert.ok(node!.store.isPinned(imported.cid), 'content the user pinned is never unpinned by eviction')
    assert.ok(held('d'), 'nor evicted from the index')
    assert.ok(evicted.length >= 2)
    for (const url of evicted) assert.notEqual(url, origin.url('/d'))
    // content the user pins after the cache got it keeps the user's pin: the cache's eviction drops only its own
    const e = await get('e')
    await node!.store.pin(e)
    assert.deepEqual(node!.store.pinOwners(e).sort(), ['cache', 'user'])
    const before = evicted.length
    await get('a')
    await get('b')
    await get('c')
    assert.ok(evicted.length > before, 'the cache evicted again')
    assert.ok(node!.store.isPinned(e, 'user'), 'the user\'s later pin survives eviction')
    assert.ok(held('e'), 'and the entry, now protected, stays in the index')
    // removed from the cache all the same, it drops the cache's pin only
    await node!.urlCache.evict(origin.url('/e'))
    assert.equal(held('e'), false)
    assert.deepEqual(node!.store.pinOwners(e), ['user'])
  })
})

describe('claims', () => {
  it('trusts a member\'s claim only as far as the bytes and the origin\'s ETag and length agree', async t => {
    const origin = await startOrigin(t)
    const real = pseudoRandom(40_000, 31)
    origin.set('/tool.tar', { bytes: real, headers: { 'cache-control': 'max-age=0' } })
    const [liar, victim] = await community(t, 2)
    const url = origin.url('/tool.tar')
    // the liar copies the origin's validator onto other bytes
    const etag = (await fetch(url, { method: 'HEAD' })).headers.get('etag')!
    const fake = pseudoRandom(30_000, 32)
    const { cid, size } = await importBytes(liar!.store, fake)
    const now = Date.now()
    await liar!.urlCache.community.announce(await liar!.urlCache.community.signClaim({
      url,
      cid,
      size,
      headers: { etag },
      fetchedAt: now,
      freshUntil: now + 3600_000
    }))
    await waitFor(() => victim!.urlCache.community.claimsFor(url).length === 1, { what: 'the claim to arrive' })
    const poisoned = await victim!.fetchUrl(url)
    assert.equal(poisoned.source, 'peer', 'the bytes match the CID the liar signed, so they are taken')
    assert.deepEqual(await body(poisoned), fake)
    // revalidation (asked for by the request here; staleness does the same): the origin's 304 agrees on the
    // ETag, its length does not
    const fixed = await victim!.fetchUrl(url, { headers: { 'cache-control': 'no-cache' } })
    assert.equal(fixed.source, 'origin')
    assert.deepEqual(await body(fixed), real)
    assert.ok(victim!.urlCache.community.distrusted.has(liar!.peerId.toString()), 'the liar is not believed again')
  })
})

describe('claims that do not hold', () => {
  it('drops a claim whose claimant cannot send the blocks and gets the content elsewhere', async t => {
    const origin = await startOrigin(t)
    const real = pseudoRandom(20_000, 41)
    origin.set('/gone.iso', { bytes: real, headers: { 'cache-control': 'max-age=3600' } })
    const [claimant, asker] = await community(t, 2)
    const url = origin.url('/gone.iso')
    // a claim for content its claimant no longer holds (evicted, or never had)
    const { cid, size } = await importBytes(asker!.store, pseudoRandom(20_000, 42), { pin: false })
    await asker!.store.gc()
    assert.equal(await asker!.store.has(cid), false)
    const now = Date.now()
    await claimant!.urlCache.community.announce(await claimant!.urlCache.community.signClaim({
      url,
      cid,
      size,
      headers: {},
      fetchedAt: now,
      freshUntil: now + 3600_000
    }))
    await waitFor(() => asker!.urlCache.community.claimsFor(url).length === 1, { what: 'the claim to arrive' })
    const r = await asker!.fetchUrl(url)
    assert.deepEqual(await body(r), real)
    assert.notEqual(r.source, 'local')
    assert.equal(asker!.urlCache.community.claimsFor(url).filter(c => c.cid.equals(cid)).length, 0, 'the empty claim is forgotten')
  })
})

describe('a node just started', () => {
  it('asks its peers directly before it has heard their gossip', async t => {
    const origin = await startOrigin(t)
    const bytes = pseudoRandom(25_000, 51)
    origin.set('/early', { bytes, headers: { 'cache-control': 'max-age=3600' } })
    const [holder] = await community(t, 1)
    await body(await holder!.fetchUrl(origin.url('/early')))
    // a one-off node (as `cmesh get-url` starts) with a status interval too long to have heard anything
    const fresh = await createNode({
      repo: join(tempDir(t), 'repo'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      minPeers: 0,
      bootstrap: [holder!.addrs()[0]!],
      urlCache: { statusIntervalMs: 3600_000, prefetchIntervalMs: 0, allowLoopbackOrigins: true }
    })
    t.after(async () => await fresh.stop().catch(() => {}))
    assert.equal(fresh.urlCache.community.memberCount(), 0)
    const r = await fresh.fetchUrl(origin.url('/early'))
    assert.equal(r.source, 'peer')
    assert.deepEqual(await body(r), bytes)
    assert.equal(origin.requestsByPath.get('/early'), 1)
  })
})

describe('prefetch', () => {
  it('brings content popular across the community to its owners when the link is idle, from members only', async t => {
    const origin = await startOrigin(t)
    const bytes = pseudoRandom(30_000, 21)
    origin.set('/popular', { bytes, headers: { 'cache-control': 'max-age=3600' } })
    // three owners per URL: every member should end up holding it
    const nodes = await community(t, 3, { owners: 3, prefetchIdleMs: 0 })
    const url = origin.url('/popular')
    await body(await nodes[0]!.fetchUrl(url))
    await body(await nodes[0]!.fetchUrl(url))
    const lacking = nodes.filter(n => n.urlCache.index.get(url) === undefined)
    assert.ok(lacking.length >= 1, 'someone does not hold it yet')
    // the requests are reported in the members' status gossip; the claim travelled by gossip
    await waitFor(() => lacking.every(n => n.urlCache.popularity.count(url) >= 1 && n.urlCache.community.claimsFor(url).length > 0), { what: 'popularity and the claim to reach the others' })
    for (const n of lacking) assert.equal(await n.urlCache.prefetch(), 1)
    for (const n of nodes) assert.ok(n.urlCache.index.get(url) !== undefined)
    assert.equal(origin.requestsByPath.get('/popular'), 1, 'prefetching never touches the origin')
    // nothing left to prefetch
    for (const n of nodes) assert.equal(await n.urlCache.prefetch(), 0)
  })
})

async function writeTemp (t: TestContext, bytes: Uint8Array): Promise<string> {
  const { writeFile } = await import('node:fs/promises')
  const path = join(tempDir(t), 'file')
  await writeFile(path, bytes)
  return path
}
