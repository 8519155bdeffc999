import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseBootstrap } from '../../../src/sync/net/bootstrap.js'

const ID = '12D3KooWLRJYjCzkU9XjUCQSFyy9r22zLCtJor5LWy1fUtAxF5vc'

describe('bootstrap entries', () => {
  it('take a peer id alone, or DNS-free multiaddrs, several separated by commas', () => {
    assert.deepEqual(parseBootstrap([ID]), { addrs: [], peers: [ID] })
    assert.deepEqual(parseBootstrap([`/ip4/198.51.100.11/tcp/4737/p2p/${ID},/ip4/198.51.100.12/tcp/4737`, '/ip6/2001:db8::1/tcp/4737']), {
      addrs: [`/ip4/198.51.100.11/tcp/4737/p2p/${ID}`, '/ip4/198.51.100.12/tcp/4737', '/ip6/2001:db8::1/tcp/4737'],
      peers: []
    })
    assert.deepEqual(parseBootstrap(), { addrs: [], peers: [] })
  })

  it('refuses names, anything that is not an address, and peer ids that do not parse', () => {
    for (const bad of ['/dns4/example.org/tcp/4737', '/dnsaddr/bootstrap.example.org', 'not-a-peer', '/ip4/300.1.1.1/tcp/1', `/p2p/${ID}`]) {
      assert.throws(() => parseBootstrap([bad]), { code: 'ERR_INVALID_OPTION' }, bad)
    }
  })
})
