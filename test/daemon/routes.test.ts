import assert from 'node:assert/strict'
import { request } from 'node:http'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { matchRoute, NDJSON, ROUTES, startApi, type Route } from '../../src/daemon/index.js'
import { createNode } from '../../src/node/index.js'
import { tempDir } from '../helpers/temp.js'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, text: string }

/** A raw request, headers exactly as given (fetch would fill in Host itself). */
async function raw (url: string, method: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, res => {
      const parts: Buffer[] = []
      res.on('data', d => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString() }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('control API route table', () => {
  it('matches a method and path, else says why not', () => {
    const routes: Route[] = [
      { method: 'GET', path: '/a', handler: async () => 1 },
      { method: 'POST', path: '/a', handler: async () => 2 },
      { method: 'POST', path: '/b', handler: async () => 3 }
    ]
    assert.equal((matchRoute(routes, 'POST', '/a') as { route: Route }).route, routes[1])
    assert.deepEqual(matchRoute(routes, 'GET', '/b'), { status: 405, allow: ['POST'] })
    assert.deepEqual(matchRoute(routes, 'DELETE', '/a'), { status: 405, allow: ['GET', 'POST'] })
    assert.deepEqual(matchRoute(routes, 'GET', '/a/'), { status: 404, allow: [] })
    const paths = ROUTES.map(r => `${r.method} ${r.path}`)
    assert.equal(new Set(paths).size, paths.length, 'no route twice')
  })

  it('checks Host, Origin, Sec-Fetch-Site and the token before any route, and refuses unknown routes and methods', async t => {
    const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, minPeers: 0 })
    t.after(async () => await node.stop())
    const api = await startApi(node, node.store.repo)
    t.after(async () => await api.close())
    const host = new URL(api.url).host
    const token = `Bearer ${api.token}`
    const refused = (a: Answer, what: string): void => {
      assert.equal(a.status, 403, what)
      assert.equal(JSON.parse(a.text).code, 'ERR_API_AUTH', what)
    }

    // every route of the table, and paths no route has: the checks come first
    const targets = [
      ...ROUTES.map(r => ({ method: r.method, path: r.path })),
      { method: 'GET', path: '/api/v0/nothing' },
      { method: 'DELETE', path: '/api/v0/id' },
      { method: 'GET', path: '/nothing' }
    ]
    for (const { method, path } of targets) {
      const what = `${method} ${path}`
      const url = `${api.url}${path}`
      refused(await raw(url, method, { host: 'evil.example', authorization: token }), `${what}: a rebound Host`)
      refused(await raw(url, method, { host, authorization: token, origin: 'http://evil.example' }), `${what}: a page's Origin`)
      refused(await raw(url, method, { host, authorization: token, 'sec-fetch-site': 'cross-site' }), `${what}: a cross-site fetch`)
      if (path.startsWith('/api/')) {
        refused(await raw(url, method, { host }), `${what}: no token`)
        refused(await raw(url, method, { host, authorization: 'Bearer wrong' }), `${what}: a wrong token`)
      }
    }

    // past the checks: an unknown path is 404, a known path's other method 405 naming the allowed ones, in the one error shape
    const notFound = await raw(`${api.url}/api/v0/nothing`, 'GET', { host, authorization: token })
    assert.equal(notFound.status, 404)
    assert.deepEqual(JSON.parse(notFound.text), { error: 'no such endpoint: GET /api/v0/nothing', code: 'ERR_NOT_FOUND' })
    assert.equal((await raw(`${api.url}/nothing`, 'GET', { host })).status, 404)
    const wrongMethod = await raw(`${api.url}/api/v0/fetch`, 'GET', { host, authorization: token })
    assert.equal(wrongMethod.status, 405)
    assert.equal(wrongMethod.headers.allow, 'POST')
    assert.equal(JSON.parse(wrongMethod.text).code, 'ERR_METHOD_NOT_ALLOWED')
    assert.equal((await raw(`${api.url}/health`, 'POST', { host })).status, 405)
    assert.equal((await raw(`${api.url}/health`, 'GET', { host })).status, 200)
    assert.equal((await raw(`${api.url}/api/v0/id`, 'GET', { host, authorization: token })).status, 200)

    // a route's body cap, and errors keep their codes and statuses
    const big = await raw(`${api.url}/api/v0/collections`, 'POST', { host, authorization: token }, Buffer.alloc(1024 * 1024 + 1, 0x20))
    assert.equal(big.status, 400)
    assert.equal(JSON.parse(big.text).code, 'ERR_TOO_LARGE')
    const notJson = await raw(`${api.url}/api/v0/collections`, 'POST', { host, authorization: token }, 'list')
    assert.equal(JSON.parse(notJson.text).code, 'ERR_USAGE')
    const badCid = await raw(`${api.url}/api/v0/fetch?cid=xyz`, 'POST', { host, authorization: token, accept: NDJSON })
    assert.equal(badCid.status, 400, 'refused before a stream begins')
    assert.equal(JSON.parse(badCid.text).code, 'ERR_INVALID_CID')
  })

  it('streams a long operation as NDJSON when asked, its failure as a last line with its code', async t => {
    const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, minPeers: 0 })
    t.after(async () => await node.stop())
    const api = await startApi(node, node.store.repo)
    t.after(async () => await api.close())
    const host = new URL(api.url).host
    const path = '/api/v0/fetch?cid=bafkr4ibc7z4xu3k4zqmqhsy6yyenhbnz3wfxkr5k2r4rcfzaxbxcsemdoy'
    const streamed = await raw(`${api.url}${path}`, 'POST', { host, authorization: `Bearer ${api.token}`, accept: NDJSON })
    assert.equal(streamed.status, 200)
    assert.equal(streamed.headers['content-type'], NDJSON)
    const lines = streamed.text.trim().split('\n').map(l => JSON.parse(l) as { type: string, code?: string, error?: string })
    assert.equal(lines.at(-1)!.type, 'error')
    assert.equal(lines.at(-1)!.code, 'ERR_FETCH_FAILED')
    assert.match(lines.at(-1)!.error!, /^no source/)
    const plain = await raw(`${api.url}${path}`, 'POST', { host, authorization: `Bearer ${api.token}` })
    assert.equal(plain.status, 400)
    assert.equal(JSON.parse(plain.text).code, 'ERR_FETCH_FAILED', 'without Accept: the plain answer, as before')
  })
})
