import assert from 'node:assert/strict'
import type { LookupAddress } from 'node:dns'
import { describe, it } from 'node:test'
import { classifyAddress, DestinationGuard } from '../../../src/sync/cache/destination.js'

/** A resolver that answers from a table, as DNS would (a rebinding name answers with loopback). */
function table (names: Record<string, string[]>): ConstructorParameters<typeof DestinationGuard>[0] {
  const lookup = ((host: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, list: LookupAddress[]) => void) => {
    const list = names[host]
    if (list === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), [])
    else callback(null, list.map(address => ({ address, family: address.includes(':') ? 6 : 4 })))
  }) as never
  return { lookup, ownAddresses: () => ['198.51.100.7', 'fe80::1', '127.0.0.1'] }
}

describe('destinations', () => {
  it('classifies addresses by range, IPv4 inside IPv6 included', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'], ['127.200.1.1', 'loopback'], ['::1', 'loopback'], ['::ffff:127.0.0.1', 'loopback'], ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
      ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['::', 'unspecified'],
      ['10.0.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'], ['100.64.0.1', 'private'],
      ['fd00::1', 'private'], ['fc12:3456::1', 'private'], ['::ffff:192.168.0.2', 'private'], ['64:ff9b::a00:1', 'private'], ['2002:c0a8:101::1', 'private'],
      ['169.254.169.254', 'link-local'], ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'], ['::ffff:169.254.0.1', 'link-local'],
      ['224.0.0.251', 'multicast'], ['ff02::fb', 'multicast'], ['255.255.255.255', 'reserved'], ['240.0.0.1', 'reserved'], ['::7f00:1', 'reserved'],
      ['172.32.0.1', 'public'], ['8.8.8.8', 'public'], ['2606:4700::1111', 'public'], ['::ffff:1.1.1.1', 'public'],
      ['192.0.2.10', 'public'], ['198.51.100.1', 'public'], ['203.0.113.9', 'public'], ['2001:db8::1', 'public']
    ]
    for (const [address, cls] of cases) assert.equal(classifyAddress(address), cls, address)
  })

  it('forbids loopback, link-local, unspecified, own and (unless allowed) private destinations', () => {
    const guard = new DestinationGuard(table({}))
    for (const a of [
      '127.0.0.1',
      '::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
      '::',
      '169.254.169.254',
      'fe80::1',
      '10.1.2.3',
      '192.168.1.1',
      '198.51.100.7',
      '::ffff:198.51.100.7'
    ]) {
      assert.notEqual(guard.reason(a), undefined, a)
    }
    assert.equal(guard.reason('203.0.113.5'), undefined)
    const lan = new DestinationGuard({ ...table({}), allowPrivate: true })
    assert.equal(lan.reason('192.168.1.1'), undefined)
    assert.notEqual(lan.reason('127.0.0.1'), undefined, 'private allowed is not loopback allowed')
    assert.notEqual(lan.reason('169.254.169.254'), undefined)
    const local = new DestinationGuard({ ...table({}), allowLoopback: true })
    assert.equal(local.reason('127.0.0.1'), undefined)
    assert.equal(local.reason('198.51.100.7'), undefined, 'own addresses go with loopback')
    assert.notEqual(local.reason('0.0.0.0'), undefined, 'unspecified is never a destination')
  })

  it('judges names by what they resolve to, every address of them', async () => {
    const guard = new DestinationGuard(table({
      'mirror.example': ['203.0.113.5'],
      'rebind.example': ['127.0.0.1'],
      'mixed.example': ['203.0.113.5', '10.0.0.1'],
      'router.example': ['192.168.1.1']
    }))
    assert.deepEqual((await guard.resolve('mirror.example')).map(a => a.address), ['203.0.113.5'])
    for (const host of [
      'rebind.example',
      'mixed.example',
      'router.example',
      'localhost',
      'localhost.',
      'a.localhost',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '0.0.0.0',
      '[::]'
    ]) {
      await assert.rejects(guard.resolve(host), { code: 'ERR_FORBIDDEN_DESTINATION' }, host)
      assert.equal(await guard.permits(host), false, host)
    }
    assert.equal(await guard.permits('nowhere.example'), true, 'an unresolvable name fails at connection time, not here')
    // connections take their addresses from the guard: a socket never sees a forbidden one
    const viaLookup = await new Promise<unknown>(resolve => { guard.lookup('rebind.example', { all: true }, (err) => { resolve(err) }) })
    assert.equal((viaLookup as { code?: string }).code, 'ERR_FORBIDDEN_DESTINATION')
    const ok = await new Promise<unknown>(resolve => { guard.lookup('mirror.example', {}, (_err, address) => { resolve(address) }) })
    assert.equal(ok, '203.0.113.5')
  })

  it('judges literal hosts without resolving them', () => {
    const guard = new DestinationGuard(table({}))
    for (const host of [
      '127.0.0.1',
      'localhost',
      'LOCALHOST.',
      'x.localhost',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '0.0.0.0',
      '10.0.0.1'
    ]) assert.notEqual(guard.literalReason(host), undefined, host)
    for (const host of ['203.0.113.5', 'example.org', '[2001:db8::1]']) assert.equal(guard.literalReason(host), undefined, host)
  })
})
