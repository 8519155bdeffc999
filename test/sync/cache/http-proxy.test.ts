import assert from 'node:assert/strict'
import { request, type IncomingHttpHeaders } from 'node:http'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { createNode, type CmeshNode } from '../../../src/node/index.js'
import { startApi } from '../../../src/daemon/index.js'
import { classifyAddress } from '../../../src/sync/cache/destination.js'
import { isLocalAddress, parseConnectTarget, parseRange, startProxy } from '../../../src/sync/cache/http-proxy.js'
import { Origin } from '../../helpers/origin.js'
import { collect, pseudoRandom, tempDir } from '../../helpers/temp.js'

interface Answer { status: number, headers: IncomingHttpHeaders, body: Buffer }

/** A request through the proxy, as a device configured with it sends one: the absolute URL as the target. */
async function viaProxy (
  proxyPort: number,
  target: string,
  options: { method?: string, headers?: Record<string, string>, body?: string } = {}
): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path: target, method: options.method ?? 'GET', headers: options.headers }, res => {
      const parts: Buffer[] = []
      res.on('data', d => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

async function node (t: TestContext): Promise<CmeshNode> {
  const n = await createNode({
    repo: join(tempDir(t), 'repo'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    minPeers: 0,
    urlCache: { prefetchIntervalMs: 0, allowLoopbackOrigins: true }
  })
  t.after(async () => await n.stop().catch(() => {}))
  return n
}

describe('forward proxy', () => {
  it('serves plain-HTTP GETs from the community cache and passes everything else through', async t => {
    const origin = new Origin()
    await origin.start()
    t.after(async () => await origin.stop())
    const bytes = pseudoRandom(120_000, 3)
    origin.set('/dists/stable/Release', { bytes, headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain' } })
    const n = await node(t)
    // the origin stands on this machine's loopback: allowed here, refused by default (see the next tests)
    const proxy = await startProxy(n, { host: '127.0.0.1', port: 0, destinations: { allowLoopback: true }, connectPorts: [origin.port] })
    t.after(async () => await proxy.close())
    const target = origin.url('/dists/stable/Release')
    const first = await viaProxy(proxy.port, target)
    assert.equal(first.status, 200)
    assert.deepEqual(new Uint8Array(first.body), bytes)
    assert.equal(first.headers['x-cache'], 'MISS')
    assert.equal(first.headers['content-type'], 'text/plain')
    assert.equal(first.headers['content-length'], String(bytes.length))
    const second = await viaProxy(proxy.port, target)
    assert.equal(second.headers['x-cache'], 'HIT')
    assert.deepEqual(new Uint8Array(second.body), bytes)
    assert.equal(origin.requestsByPath.get('/dists/stable/Release'), 1)
    // a resumed download: one byte range of the stored content
    const part = await viaProxy(proxy.port, target, { headers: { range: 'bytes=1000-1999' } })
    assert.equal(part.status, 206)
    assert.equal(part.headers['content-range'], `bytes 1000-1999/${bytes.length}`)
    assert.deepEqual(new Uint8Array(part.body), bytes.subarray(1000, 2000))
    const tail = await viaProxy(proxy.port, target, { headers: { range: 'bytes=-10' } })
    assert.deepEqual(new Uint8Array(tail.body), bytes.subarray(bytes.length - 10))
    assert.equal((await viaProxy(proxy.port, target, { headers: { range: `bytes=${bytes.length}-` } })).status, 416)
    assert.equal((await viaProxy(proxy.port, target, { headers: { range: 'bytes=0-1,5-9' } })).status, 200, 'several ranges: the whole')
    // credentials: passed to the origin, the answer not stored
    const withAuth = await viaProxy(proxy.port, target, { headers: { authorization: 'Basic dTpw' } })
    assert.equal(withAuth.headers['x-cache'], 'MISS')
    assert.equal(origin.lastRequest.get('/dists/stable/Release')?.authorization, 'Basic dTpw')
    // other methods go to the origin; errors of the origin come back as they are
    const posted = await viaProxy(proxy.port, origin.url('/form'), { method: 'POST', body: 'a=1' })
    assert.equal(posted.status, 404)
    const missing = await viaProxy(proxy.port, origin.url('/nothing-here'))
    assert.equal(missing.status, 404)
    // a request that is not for a proxy
    const direct = await viaProxy(proxy.port, '/dists/stable/Release')
    assert.equal(direct.status, 400)
    // CONNECT (what clients send for https://) is tunnelled to the host, bytes untouched and uncached
    const tunnelled = await new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port: proxy.port, method: 'CONNECT', path: `127.0.0.1:${origin.port}` }).on('connect', (res, socket) => {
        assert.equal(res.statusCode, 200)
        const parts: Buffer[] = []
        socket.on('data', d => parts.push(d))
        socket.on('end', () => resolve(Buffer.concat(parts).toString('latin1')))
        socket.write('GET /dists/stable/Release HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      }).on('error', reject).end()
    })
    assert.match(tunnelled, /^HTTP\/1\.1 200/)
    assert.equal(origin.requestsByPath.get('/dists/stable/Release'), 3, 'the tunnelled request reached the origin itself')
    // offline: the cached file is still served, an uncached one is a 504
    await origin.stop()
    assert.equal((await viaProxy(proxy.port, target)).status, 200)
    const offline = await viaProxy(proxy.port, origin.url('/pool/new.deb'))
    assert.equal(offline.status, 504)
    assert.match(offline.body.toString(), /ERR_URL_UNAVAILABLE/)
  })

  it('says X-Cache: MEMBER when a member served the file without the origin, HIT from its own store after', async t => {
    const origin = new Origin()
    await origin.start()
    t.after(async () => await origin.stop())
    const bytes = pseudoRandom(90_000, 4)
    origin.set('/pool/a.deb', { bytes, headers: { 'cache-control': 'max-age=600' } })
    const [a, b] = [await node(t), await node(t)]
    await b.dial(a.addrs()[0]!)
    const target = origin.url('/pool/a.deb')
    await collect((await a.fetchUrl(target)).body())
    const proxy = await startProxy(b, { host: '127.0.0.1', port: 0, destinations: { allowLoopback: true } })
    t.after(async () => await proxy.close())
    const fromMember = await viaProxy(proxy.port, target)
    assert.equal(fromMember.headers['x-cache'], 'MEMBER')
    assert.deepEqual(new Uint8Array(fromMember.body), bytes)
    assert.equal((await viaProxy(proxy.port, target)).headers['x-cache'], 'HIT')
    assert.equal(origin.requestsByPath.get('/pool/a.deb'), 1)
    const totals = b.analytics.totals()
    assert.equal(totals['external.bytes.saved'], 2 * bytes.length)
    assert.equal(totals['cache.store.bytes'], bytes.length)
    assert.equal(totals['cache.origin.bytes'] ?? 0, 0)
  })

  it('serves the local network only', async t => {
    const n = await node(t)
    const proxy = await startProxy(n, { host: '127.0.0.1', port: 0, allow: () => false })
    t.after(async () => await proxy.close())
    assert.equal((await viaProxy(proxy.port, 'http://127.0.0.1:9/x')).status, 403)
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.9', '::1', '::ffff:192.168.0.2', 'fd12::1', 'fe80::1']) assert.ok(isLocalAddress(a), a)
    assert.deepEqual(parseRange('bytes=5-', 10), { offset: 5, length: 5 })
    assert.deepEqual(parseRange('bytes=0-100', 10), { offset: 0, length: 10 })
    assert.equal(parseRange('bytes=7-3', 10), undefined)
    assert.equal(parseRange('items=0-1', 10), undefined)
    for (const a of ['8.8.8.8', '172.32.0.1', '2001:db8::1', '::ffff:1.1.1.1']) assert.ok(!isLocalAddress(a), a)
  })

  it('never reaches this machine: loopback, its own addresses and the control API stay out of reach', async t => {
    const n = await node(t)
    const api = await startApi(n, n.store.repo)
    t.after(async () => await api.close())
    const apiPort = Number(new URL(api.url).port)
    // CONNECT allowed to the API's port, so that the destination check, not the port rule, is what refuses
    const proxy = await startProxy(n, { host: '127.0.0.1', port: 0, connectPorts: [443, apiPort] })
    t.after(async () => await proxy.close())
    const targets = [
      `http://127.0.0.1:${apiPort}/api/v0/id`, `http://localhost:${apiPort}/api/v0/id`, `http://localhost.:${apiPort}/api/v0/id`,
      `http://0.0.0.0:${apiPort}/api/v0/id`, `http://[::ffff:127.0.0.1]:${apiPort}/api/v0/id`, `http://[::]:${apiPort}/api/v0/id`,
      `http://[::1]:${apiPort}/api/v0/id`, `http://2130706433:${apiPort}/api/v0/id`, `http://0x7f.1:${apiPort}/api/v0/id`,
      'http://169.254.169.254/latest/meta-data/', 'http://192.168.1.1/admin'
    ]
    for (const target of targets) {
      const r = await viaProxy(proxy.port, target)
      assert.equal(r.status, 403, target)
      assert.match(r.body.toString(), /ERR_FORBIDDEN_DESTINATION/, target)
    }
    const posted = await viaProxy(proxy.port, `http://127.0.0.1:${apiPort}/api/v0/collections`, { method: 'POST', body: '{"op":"list"}', headers: { 'content-type': 'application/json' } })
    assert.equal(posted.status, 403)
    const connect = async (path: string): Promise<number> => await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxy.port, method: 'CONNECT', path })
      req.on('connect', (res, socket) => { socket.destroy(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      req.end()
    })
    for (const path of [`127.0.0.1:${apiPort}`, `localhost:${apiPort}`, `0x7f.1:${apiPort}`, `[::1]:${apiPort}`, `[::ffff:127.0.0.1]:${apiPort}`]) {
      assert.equal(
        await connect(path),
        403,
        path
      )
    }
    assert.equal(await connect('198.51.100.1:25'), 403, 'CONNECT to a port not allowed (SMTP)')
    assert.equal(await connect('no-port.example'), 400)
  })

  it('listens on loopback and LAN addresses by default, never a public one', async t => {
    const n = await node(t)
    const proxy = await startProxy(n, { port: 0 })
    t.after(async () => await proxy.close())
    assert.ok(proxy.urls.length >= 1)
    for (const url of proxy.urls) {
      const cls = classifyAddress(new URL(url).hostname.replace(/^\[|\]$/g, ''))
      assert.ok(cls === 'loopback' || cls === 'private', url)
    }
    assert.equal((await viaProxy(proxy.port, '/')).status, 400, 'the loopback address answers')
  })

  it('parses CONNECT targets strictly', () => {
    assert.deepEqual(parseConnectTarget('example.org:443'), { host: 'example.org', port: 443 })
    assert.deepEqual(parseConnectTarget('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 })
    assert.deepEqual(parseConnectTarget('203.0.113.5:8443'), { host: '203.0.113.5', port: 8443 })
    for (const bad of [
      'example.org',
      'example.org:0',
      'example.org:65536',
      'example.org:044',
      ':443',
      'a b:443',
      '[zz]:443',
      '[203.0.113.5]:443',
      'user@example.org:443',
      '-a.example:443',
      'example.org:443/x'
    ]) {
      assert.equal(parseConnectTarget(bad), undefined, bad)
    }
  })
})
