import assert from 'node:assert/strict'
import { isIP } from 'node:net'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { parseConnectTarget, parseRange } from '../../src/sync/cache/http-proxy.js'
import { fuzzParams } from './settings.js'

const sizeArb = fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.maxSafeInteger().map(Math.abs), fc.constantFrom(0, 1, 2, Number.MAX_SAFE_INTEGER))
/** Decimal digits: small numbers, numbers near a size, numbers far beyond 2^53 (with leading zeros now and then). */
const digitsArb = fc.oneof(
  fc.nat({ max: 20_000 }).map(String),
  fc.bigInt({ min: 0n, max: 2n ** 80n }).map(String),
  fc.tuple(fc.stringMatching(/^0{1,3}$/), fc.nat({ max: 500 })).map(([z, n]) => z + String(n)),
  fc.stringMatching(/^[0-9]{20,400}$/)
)

type Range = { offset: number, length: number } | 'unsatisfiable' | undefined

/** Every answer parseRange gives stays inside the content: an integer offset and a length of at least one byte. */
function assertInside (r: Range, size: number, header: string): void {
  if (r === undefined || r === 'unsatisfiable') return
  assert.ok(Number.isSafeInteger(r.offset) && Number.isSafeInteger(r.length), `parseRange(${JSON.stringify(header)}, ${size}) gave ${JSON.stringify(r)}`)
  assert.ok(r.offset >= 0 && r.length >= 1 && r.offset + r.length <= size, `parseRange(${JSON.stringify(header)}, ${size}) gave ${JSON.stringify(r)}, outside ${size} bytes`)
}

/** RFC 9110 section 14.1.2 for one range, computed with BigInt so that no number is rounded. */
function expected (first: string, last: string, size: number): Range {
  const n = BigInt(size)
  if (first === '') {
    const suffix = BigInt(last)
    const k = suffix < n ? suffix : n
    return k === 0n ? 'unsatisfiable' : { offset: Number(n - k), length: Number(k) }
  }
  const start = BigInt(first)
  if (start >= n) return 'unsatisfiable'
  if (last === '') return { offset: Number(start), length: Number(n - start) }
  const end = BigInt(last) < n - 1n ? BigInt(last) : n - 1n
  if (BigInt(last) < start) return undefined // invalid: ignored
  return { offset: Number(start), length: Number(end - start + 1n) }
}

describe('fuzz: HTTP Range of the forward proxy (src/sync/cache/http-proxy.ts parseRange)', () => {
  it('answers any header with nothing, unsatisfiable, or a range inside the content, never throwing', () => {
    fc.assert(fc.property(fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.tuple(fc.constantFrom(
        'bytes=',
        'Bytes=',
        'bytes =',
        ' bytes=',
        'items=',
        'bytes=-',
        ''
      ), fc.string({ unit: fc.constantFrom('0', '1', '9', '-', ',', ' ', '=', '+', 'e', '.', 'x'), maxLength: 30 })).map(([a, b]) => a + b)
    ), sizeArb, (header, size) => {
      assertInside(parseRange(header, size), size, header)
    }), fuzzParams())
  })

  it('gives exactly the bytes RFC 9110 names for bytes=a-b, bytes=a- and bytes=-n, however large the numbers', () => {
    fc.assert(fc.property(fc.oneof(
      fc.tuple(digitsArb, digitsArb),
      fc.tuple(digitsArb, fc.constant('')),
      fc.tuple(fc.constant(''), digitsArb)
    ), sizeArb, fc.constantFrom('', ' ', '\t'), ([first, last], size, pad) => {
      const header = `${pad}bytes=${first}-${last}${pad}`
      const r = parseRange(header, size)
      assertInside(r, size, header)
      assert.deepStrictEqual(r, expected(first, last, size), `parseRange(${JSON.stringify(header)}, ${size})`)
    }), fuzzParams())
  })

  it('ignores several ranges and anything that is not one byte range (the whole content is sent)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(digitsArb, digitsArb).map(([a, b]) => `${a}-${b}`), { minLength: 2, maxLength: 4 }), sizeArb, (ranges, size) => {
      assert.equal(parseRange(`bytes=${ranges.join(',')}`, size), undefined)
      assert.equal(parseRange(`bytes=${ranges[0]!.replace('-', '')}`, size), undefined)
      assert.equal(parseRange('bytes=-', size), undefined)
    }), fuzzParams(0.3))
  })
})

/** How a CONNECT target is written for a host and port: brackets around IPv6 only. */
function format (t: { host: string, port: number }): string {
  return isIP(t.host) === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`
}

const portArb = fc.integer({ min: 1, max: 65535 })
const hostArb = fc.oneof(fc.domain(), fc.ipV4(), fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/))

describe('fuzz: CONNECT targets of the forward proxy (src/sync/cache/http-proxy.ts parseConnectTarget)', () => {
  it('parses host:port and [IPv6]:port to that host and port', () => {
    fc.assert(fc.property(fc.oneof(hostArb.map(h => ({ host: h, text: h })), fc.ipV6().map(h => ({ host: h, text: `[${h}]` }))), portArb, ({ host, text }, port) => {
      assert.deepStrictEqual(parseConnectTarget(`${text}:${port}`), { host, port })
    }), fuzzParams())
  })

  it('accepts only a target written exactly as host:port (a DNS name or IPv4) or [IPv6]:port with a port 1-65535, never throwing', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.string({ unit: fc.constantFrom('a', '1', '.', '-', ':', '[', ']', '@', '/', ' ', '%', '0', '_', 'é', '\n'), maxLength: 30 }),
      hostArb, fc.ipV6(), fc.ipV6().map(h => `[${h}]`),
      fc.oneof(portArb, fc.constantFrom(0, 65536, 99999, 100000, -1)).map(String), fc.constantFrom('00443', '0', '+443', '443 ', '0x1bb', '1e3')
    )
    fc.assert(fc.property(fc.array(piece, { minLength: 1, maxLength: 4 }), fc.constantFrom('', ':'), (pieces, sep) => {
      const target = pieces.join(sep)
      const t = parseConnectTarget(target)
      if (t === undefined) return
      assert.ok(Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535, `port ${t.port} of ${JSON.stringify(target)}`)
      assert.ok(t.host.length > 0)
      assert.ok(isIP(t.host) === 6 || /^[A-Za-z0-9.-]+$/.test(t.host), `host ${JSON.stringify(t.host)} of ${JSON.stringify(target)}`)
      assert.equal(format(t), target, `parseConnectTarget(${JSON.stringify(target)}) = ${JSON.stringify(t)}: not how that target is written`)
    }), fuzzParams())
  })

  it('refuses ports 0 and above 65535, missing or padded ports, user info, paths, unbracketed IPv6 and brackets around anything else', () => {
    fc.assert(fc.property(hostArb, portArb, fc.ipV6(), (host, port, v6) => {
      for (const bad of [`${host}:0`, `${host}:65536`, `${host}:${port + 65535}`, `${host}`, `${host}:`, `:${port}`, `${host}:0${port}`, `${host}:${port}/x`,
        `user@${host}:${port}`, `${host} :${port}`, `[${host}]:${port}`, `${v6}:${port}`, `[${v6}]`, `[${v6}]:0`, `http://${host}:${port}`]) {
        assert.equal(parseConnectTarget(bad), undefined, `parseConnectTarget(${JSON.stringify(bad)}) accepted`)
      }
    }), fuzzParams(0.5))
  })
})
