import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { announceable } from '../sync/net/addresses.js'
import { DHT_PROTOCOL, type DhtMode } from '../sync/routing/index.js'
import { pubsubService } from '../sync/net/pubsub.js'
import { CONNECTION_MONITOR, DEFAULT_LISTEN, YAMUX_WINDOW } from './constants.js'

export interface HostInit {
  privateKey: PrivateKey
  /** @default DEFAULT_LISTEN */
  listen?: string[]
  /** @default true */
  mdns?: boolean
  /** Peers caught sending bad blocks: refused inbound and never dialled (peer exchange, mDNS). */
  banned: Set<string>
  /** The community's Kad-DHT (DHT_PROTOCOL): a server answers queries and holds records, a client only asks. @default 'off' */
  dht?: DhtMode
}

/**
 * The libp2p host of a node: TCP, TLS or noise, yamux, identify, ping, gossipsub, and mDNS on the local segment.
 * A node listening on loopback alone cannot be reached by neighbours: it does not take part in mDNS; one that does
 * never announces its loopback addresses.
 */
export async function createHost (init: HostInit): Promise<Libp2p> {
  const listen = init.listen ?? DEFAULT_LISTEN
  const useMdns = (init.mdns ?? true) && announceable(listen).length > 0
  const banned = init.banned
  return await createLibp2p({
    privateKey: init.privateKey,
    connectionGater: {
      denyDialPeer: peer => banned.has(peer.toString()),
      denyInboundEncryptedConnection: peer => banned.has(peer.toString())
    },
    addresses: useMdns ? { listen, announceFilter: addrs => announceable(addrs) } : { listen },
    transports: [tcp()],
    connectionEncrypters: [tls(), noise()],
    streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: YAMUX_WINDOW, maxStreamWindowSize: 4 * YAMUX_WINDOW } })],
    peerDiscovery: useMdns ? [mdns()] : [],
    connectionMonitor: CONNECTION_MONITOR,
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: pubsubService(),
      // a community's nodes sit on private and loopback addresses as often as public ones: none is mapped away
      ...(init.dht === undefined || init.dht === 'off' ? {} : { dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: init.dht === 'client', peerInfoMapper: passthroughMapper }) })
    }
  })
}
