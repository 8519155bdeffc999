import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { announceable, isLoopback } from '../../../src/sync/net/addresses.js'

describe('announced addresses', () => {
  it('never include loopback addresses', () => {
    const addrs = ['/ip4/127.0.0.1/tcp/4001', '/ip4/192.0.2.10/tcp/4001', '/ip6/::1/tcp/4001', '/ip4/198.51.100.7/tcp/4001'].map(a => multiaddr(a))
    assert.deepEqual(announceable(addrs).map(String), ['/ip4/192.0.2.10/tcp/4001', '/ip4/198.51.100.7/tcp/4001'])
    assert.equal(isLoopback('/ip4/127.8.9.1/tcp/1'), true)
    assert.equal(isLoopback('/ip4/192.0.2.1/tcp/1'), false)
  })
})
