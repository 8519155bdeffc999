import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { ipOf, judgeNat, NAT_EVIDENCE_PEERS } from '../../../src/sync/net/index.js'

const HOME = '203.0.113.130'
const NAT = '203.0.113.2'
const own = new Set([HOME, '127.0.0.1'])
/** Observer IP -> the IP it saw the node at. */
const seen = (...pairs: Array<[string, string]>): Map<string, string> => new Map(pairs)

describe('relay mode auto: is a node behind NAT, from what its peers saw', () => {
  it('knows nothing before a peer on a direct connection said where it saw the node', () => {
    assert.deepEqual(judgeNat(own, seen(), { threshold: 2 }), { verdict: 'unknown', translated: 0, untranslated: 0 })
    assert.equal(judgeNat(own, seen(), { threshold: 0 }).verdict, 'unknown', 'a threshold below one still wants one observer')
  })

  it('is direct while peers see it at its own addresses (the same segment, or no translation on the way)', () => {
    const j = judgeNat(own, seen(['198.51.100.11', HOME], ['203.0.113.131', HOME]), { threshold: 2 })
    assert.deepEqual(j, { verdict: 'direct', translated: 0, untranslated: 2 })
  })

  it('wants NAT_EVIDENCE_PEERS observers at distinct addresses to see it at an address not its own', () => {
    assert.equal(NAT_EVIDENCE_PEERS, 2)
    const one = judgeNat(own, seen(['198.51.100.11', NAT]), { threshold: NAT_EVIDENCE_PEERS })
    assert.deepEqual(one, { verdict: 'direct', translated: 1, untranslated: 0 }, 'one peer alone could be mistaken or lie')
    const two = judgeNat(own, seen(['198.51.100.11', NAT], ['203.0.113.11', NAT]), { threshold: NAT_EVIDENCE_PEERS })
    assert.deepEqual(two, { verdict: 'behind-nat', translated: 2, untranslated: 0 })
    // a NAT with two public addresses (load-balanced uplinks) is still a NAT
    assert.equal(judgeNat(own, seen(['198.51.100.11', NAT], ['203.0.113.11', '203.0.113.3']), { threshold: 2 }).verdict, 'behind-nat')
    assert.equal(judgeNat(own, seen(['198.51.100.11', NAT]), { threshold: 1 }).verdict, 'behind-nat')
  })

  it('is behind NAT even while peers of its own segment see it at its own address', () => {
    const j = judgeNat(own, seen(['203.0.113.131', HOME], ['198.51.100.11', NAT], ['203.0.113.11', NAT]), { threshold: 2 })
    assert.deepEqual(j, { verdict: 'behind-nat', translated: 2, untranslated: 1 })
  })

  it('is mapped, whatever peers saw, once AutoNAT confirmed a public address (a UPnP mapping, a 1:1 NAT)', () => {
    const j = judgeNat(own, seen(['198.51.100.11', NAT], ['203.0.113.11', NAT]), { threshold: 2, publicConfirmed: true })
    assert.deepEqual(j, { verdict: 'mapped', translated: 2, untranslated: 0 })
    assert.equal(judgeNat(own, seen(), { threshold: 2, publicConfirmed: true }).verdict, 'mapped')
  })

  it('reads the IP address a multiaddr starts with, port and peer left out', () => {
    assert.equal(ipOf('/ip4/203.0.113.2/tcp/40122'), NAT)
    assert.equal(ipOf(multiaddr('/ip4/198.51.100.11/tcp/4737/p2p/12D3KooWCEUjrnunz9roSvaef27ybsHhBTh5wsne3uX9P1wfyX1m')), '198.51.100.11')
    assert.equal(ipOf('/ip6/2001:DB8::1/tcp/4737'), '2001:db8::1', 'IPv6 in lower case, as the interfaces list it')
    assert.equal(ipOf('/ip6zone/eth0/ip6/fe80::1/tcp/4737'), 'fe80::1')
    assert.equal(ipOf('/dns4/example.com/tcp/4737'), undefined)
    assert.equal(ipOf('/p2p/12D3KooWCEUjrnunz9roSvaef27ybsHhBTh5wsne3uX9P1wfyX1m/p2p-circuit'), undefined)
  })
})
