import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { uploadGroup } from '../../../src/policy/fairness/upload-groups.js'

// a LAN of 192.168.1.0/24 as our own segment
const subnets = [{ network: ((192 << 24) >>> 0) + (168 << 16) + (1 << 8), mask: 0xffffff00 }]

describe('upload groups', () => {
  it('puts remote IPv4 peers of one /24 in one group, and other /24s apart', () => {
    assert.equal(uploadGroup('/ip4/203.0.113.7/tcp/4001', 'p1', { subnets }), 'ip4:203.0.113.0/24')
    assert.equal(uploadGroup('/ip4/203.0.113.200/tcp/4002', 'p2', { subnets }), 'ip4:203.0.113.0/24')
    assert.notEqual(uploadGroup('/ip4/203.0.114.7/tcp/4001', 'p3', { subnets }), 'ip4:203.0.113.0/24')
  })

  it('groups peers on our own segment by address, so neighbours on one LAN are not one group', () => {
    assert.equal(uploadGroup('/ip4/192.168.1.20/tcp/4001', 'p1', { subnets }), 'ip4:192.168.1.20/32')
    assert.equal(uploadGroup('/ip4/192.168.1.20/tcp/5001', 'p2', { subnets }), 'ip4:192.168.1.20/32')
    assert.equal(uploadGroup('/ip4/192.168.1.21/tcp/4001', 'p3', { subnets }), 'ip4:192.168.1.21/32')
    assert.equal(uploadGroup('/ip4/192.168.1.21/tcp/4001', 'p3', { subnets, segmentPrefixV4: 24 }), 'ip4:192.168.1.0/24')
  })

  it('puts IPv6 peers of one /64 in one group, mapped IPv4 as IPv4', () => {
    assert.equal(uploadGroup('/ip6/2001:db8:1:2:aaaa::1/tcp/1', 'p', { subnets }), 'ip6:2001:db8:1:2:0:0:0:0/64')
    assert.equal(uploadGroup('/ip6/2001:db8:1:2:ffff:1:2:3/tcp/1', 'q', { subnets }), 'ip6:2001:db8:1:2:0:0:0:0/64')
    assert.equal(uploadGroup('/ip6/2001:db8:1:3::1/tcp/1', 'r', { subnets }), 'ip6:2001:db8:1:3:0:0:0:0/64')
    assert.equal(uploadGroup('/ip6/::ffff:203.0.113.9/tcp/1', 's', { subnets }), 'ip4:203.0.113.0/24')
  })

  it('leaves a peer without an IP address a group of its own', () => {
    assert.equal(uploadGroup('/p2p-circuit/p2p/QmX', 'peerA', { subnets }), 'peer:peerA')
    assert.equal(uploadGroup(undefined, 'peerB', { subnets }), 'peer:peerB')
  })
})
