import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { callApi, daemonApi, startApi } from '../../src/daemon/index.js'
import { repoPath } from '../../src/repo/index.js'
import { createNode } from '../../src/node/index.js'
import { tempDir } from '../helpers/temp.js'

/** A raw request, headers as a web page or an attacker would set them (fetch would fill in Host itself). */
async function raw (url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, res => {
      const parts: Buffer[] = []
      res.on('data', d => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('control API', () => {
  it('needs the repository token and refuses what a web page can send', async t => {
    const node = await createNode({ repo: join(tempDir(t), 'repo'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, minPeers: 0 })
    t.after(async () => await node.stop())
    const api = await startApi(node, node.store.repo)
    t.after(async () => await api.close())
    const host = new URL(api.url).host
    const token = `Bearer ${api.token}`
    assert.equal(statSync(repoPath(node.store.repo, 'apiToken')).mode & 0o777, 0o600, 'the token file is the owner\'s alone')

    assert.equal((await raw(`${api.url}/api/v0/id`, 'GET', { host, authorization: token })).status, 200)
    const none = await raw(`${api.url}/api/v0/id`, 'GET', { host })
    assert.equal(none.status, 403)
    assert.equal(JSON.parse(none.text).code, 'ERR_API_AUTH')
    assert.equal((await raw(`${api.url}/api/v0/id`, 'GET', { host, authorization: 'Bearer wrong' })).status, 403)
    // a page's form post (a "simple" request: no preflight), with and without a rebound Host
    const form = { host, origin: 'http://evil.example', 'content-type': 'text/plain' }
    assert.equal((await raw(`${api.url}/api/v0/collections`, 'POST', form, '{"op":"list"}')).status, 403)
    assert.equal((
      await raw(`${api.url}/api/v0/collections`, 'POST', { ...form, host: 'evil.example', authorization: token }, '{"op":"list"}')).status,
    403,
    'DNS rebinding: the Host is the page\'s'
    )
    assert.equal((await raw(`${api.url}/api/v0/collections`, 'POST', { host, authorization: token, origin: 'http://evil.example' }, '{"op":"list"}')).status, 403, 'an Origin that is not the API')
    assert.equal((await raw(`${api.url}/api/v0/id`, 'GET', { host, authorization: token, 'sec-fetch-site': 'cross-site' })).status, 403)
    // monitoring stays open to this machine without the token, but not to a rebound name
    assert.equal((await raw(`${api.url}/health`, 'GET', { host })).status, 200)
    assert.equal((await raw(`${api.url}/metrics`, 'GET', { host: 'evil.example' })).status, 403)

    // the CLI's way in: the address and the token from the repository
    const found = await daemonApi(node.store.repo)
    assert.deepEqual(found, { url: api.url, token: api.token })
    assert.deepEqual(await callApi(found!, 'POST', '/api/v0/collections', Buffer.from('{"op":"list"}')), [])
  })

  it('keeps the token across restarts', async t => {
    const repo = join(tempDir(t), 'repo')
    const node = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, minPeers: 0 })
    t.after(async () => await node.stop())
    const first = await startApi(node, repo)
    await first.close()
    const second = await startApi(node, repo)
    t.after(async () => await second.close())
    assert.equal(second.token, first.token)
    assert.ok(second.token.length >= 32)
  })
})
