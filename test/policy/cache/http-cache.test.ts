import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { HEURISTIC_MAX_MS } from '../../../src/policy/cache/constants.js'
import {
  conditionalHeaders,
  freshnessLifetime,
  freshUntil,
  isFresh,
  mergeNotModified,
  parseCacheControl,
  shareability
} from '../../../src/policy/cache/http-cache.js'

const NOW = Date.parse('2026-11-23T12:00:00Z')
const date = (ms: number): string => new Date(ms).toUTCString()

describe('HTTP caching rules', () => {
  it('shares plain 200 responses and nothing private', () => {
    assert.equal(shareability('GET', {}, 200, { 'cache-control': 'max-age=60' }).shareable, true)
    assert.equal(shareability('GET', {}, 200, {}).shareable, true)
    assert.equal(shareability('GET', {}, 200, { vary: 'Accept-Encoding' }).shareable, true)
    const no = (method: string, req: Record<string, string>, status: number, res: Record<string, string>): void => {
      const r = shareability(method, req, status, res)
      assert.equal(r.shareable, false, JSON.stringify({ method, req, status, res }))
      assert.ok(r.reason !== undefined && r.reason.length > 0)
    }
    no('GET', { authorization: 'Basic eA==' }, 200, { 'cache-control': 'public, max-age=60' }) // stricter than RFC 9111
    no('GET', { cookie: 'a=b' }, 200, {})
    no('GET', { 'cache-control': 'no-store' }, 200, {})
    no('GET', {}, 200, { 'set-cookie': 'sid=1' })
    no('GET', {}, 200, { 'cache-control': 'private' })
    no('GET', {}, 200, { 'cache-control': 'Private, max-age=600' })
    no('GET', {}, 200, { 'cache-control': 'no-store' })
    no('GET', {}, 200, { vary: 'Cookie' })
    no('GET', {}, 200, { vary: '*' })
    no('GET', {}, 404, {})
    no('GET', {}, 206, {})
    no('POST', {}, 200, {})
  })

  it('computes freshness from s-maxage, max-age, Expires, then Last-Modified', () => {
    assert.equal(freshnessLifetime({ 'cache-control': 'max-age=60, s-maxage=600' }, NOW), 600_000)
    assert.equal(freshnessLifetime({ 'cache-control': 'max-age=60', expires: date(NOW + 3600_000) }, NOW), 60_000)
    assert.equal(freshnessLifetime({ date: date(NOW), expires: date(NOW + 3600_000) }, NOW), 3600_000)
    assert.equal(freshnessLifetime({ date: date(NOW), expires: '0' }, NOW), 0, 'an invalid Expires is in the past')
    assert.equal(freshnessLifetime({ date: date(NOW), 'last-modified': date(NOW - 10 * 3600_000) }, NOW), 3600_000, '10 % of the age')
    assert.equal(freshnessLifetime({ date: date(NOW), 'last-modified': date(NOW - 100 * 24 * 3600_000) }, NOW), HEURISTIC_MAX_MS)
    assert.equal(freshnessLifetime({ 'cache-control': 'no-cache, max-age=600' }, NOW), 0)
    assert.equal(freshnessLifetime({}, NOW), 0)
    // a response that was already 30 s old when received has 30 s less to live
    assert.equal(freshUntil({ 'cache-control': 'max-age=60', age: '30' }, NOW), NOW + 30_000)
    assert.equal(freshUntil({ 'cache-control': 'max-age=60', date: date(NOW - 20_000) }, NOW), NOW + 40_000)
  })

  it('treats a request asking for revalidation as stale', () => {
    assert.equal(isFresh(NOW + 1000, NOW), true)
    assert.equal(isFresh(NOW, NOW), false)
    assert.equal(isFresh(NOW + 1000, NOW, { 'cache-control': 'no-cache' }), false)
    assert.equal(isFresh(NOW + 1000, NOW, { 'cache-control': 'max-age=0' }), false)
    assert.equal(isFresh(NOW + 1000, NOW, { pragma: 'no-cache' }), false)
  })

  it('revalidates with the stored validators and takes a 304\'s new ones', () => {
    const stored = { etag: '"v1"', 'last-modified': date(NOW - 1000), 'content-type': 'text/plain', 'cache-control': 'max-age=10' }
    assert.deepEqual(conditionalHeaders(stored), { 'if-none-match': '"v1"', 'if-modified-since': stored['last-modified'] })
    assert.deepEqual(conditionalHeaders({}), {})
    const merged = mergeNotModified(stored, { 'cache-control': 'max-age=99', 'content-type': 'text/html', 'set-cookie': 'x' })
    assert.equal(merged['cache-control'], 'max-age=99')
    assert.equal(merged['content-type'], 'text/plain', 'a 304 does not change the representation')
    assert.equal(merged['set-cookie'], undefined)
  })

  it('parses any Cache-Control without throwing, directives lower-cased', () => {
    fc.assert(fc.property(fc.string(), s => {
      const m = parseCacheControl(s)
      for (const k of m.keys()) assert.equal(k, k.toLowerCase())
    }))
    assert.equal(parseCacheControl('Max-Age="60", PRIVATE').get('max-age'), '60')
    fc.assert(fc.property(fc.nat(10 ** 7), n => freshnessLifetime({ 'cache-control': `max-age=${n}` }, NOW) === n * 1000))
  })
})
