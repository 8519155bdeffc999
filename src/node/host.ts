import { identify, identifyPush } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { announceable } from '../sync/net/addresses.js'
import { autoRelay, RELAY_RESERVATION_ADDR, type AutoRelayInit } from '../sync/net/index.js'
import { DHT_PROTOCOL, type DhtMode } from '../sync/routing/index.js'
import { pubsubService } from '../sync/net/pubsub.js'
import { CONNECTION_MONITOR, DEFAULT_LISTEN, RELAY_DATA_LIMIT_BYTES, RELAY_DURATION_LIMIT_MS, RELAY_MAX_RESERVATIONS, YAMUX_WINDOW } from './constants.js'

/**
 * A node's part in circuit relay v2: 'server' offers a relay with limits to homes behind NAT (a dialable community
 * node), 'client' reserves a slot on a relay among its peers so it can be dialled through it (a home behind NAT),
 * 'auto' offers a relay until its peers show it is behind NAT, then reserves a slot instead (sync/net/auto-relay.ts),
 * 'off' none of these. All but 'off' dial relayed addresses, run AutoNAT and upgrade relayed connections by DCUtR
 * hole punching.
 */
export type RelayMode = 'auto' | 'server' | 'client' | 'off'

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
  /** Circuit relay v2, AutoNAT and DCUtR (see RelayMode). @default 'off' */
  relay?: RelayMode
  /** Relay mode 'auto': how much evidence of a NAT it wants, which addresses are its own. @default AutoRelayInit's */
  autoRelay?: AutoRelayInit
  /** Ask the home router for a port mapping by UPnP (with AutoNAT to confirm it); harmless without a gateway. @default false */
  upnp?: boolean
}

/**
 * The libp2p host of a node: TCP, TLS or noise, yamux, identify (and its push), ping, gossipsub, and mDNS on the local segment.
 * A node listening on loopback alone cannot be reached by neighbours: it does not take part in mDNS; one that does
 * never announces its loopback addresses.
 */
export async function createHost (init: HostInit): Promise<Libp2p> {
  const listen = init.listen ?? DEFAULT_LISTEN
  const useMdns = (init.mdns ?? true) && announceable(listen).length > 0
  const banned = init.banned
  const relay = init.relay ?? 'off'
  const nat = relay !== 'off'
  // services a node runs only when asked for are loaded only then (each is tens of modules): a one-off command starts sooner
  const dht = init.dht === undefined || init.dht === 'off' ? undefined : await import('@libp2p/kad-dht')
  const circuit = nat ? await import('@libp2p/circuit-relay-v2') : undefined
  const autonat = nat || init.upnp === true ? await import('@libp2p/autonat') : undefined
  const holePunch = nat ? await import('@libp2p/dcutr') : undefined
  const upnp = init.upnp === true ? await import('@libp2p/upnp-nat') : undefined
  return await createLibp2p({
    privateKey: init.privateKey,
    connectionGater: {
      denyDialPeer: peer => banned.has(peer.toString()),
      denyInboundEncryptedConnection: peer => banned.has(peer.toString())
    },
    addresses: {
      listen: relay === 'client' ? [...listen, RELAY_RESERVATION_ADDR] : listen,
      ...useMdns ? { announceFilter: (addrs: Multiaddr[]) => announceable(addrs) } : {}
    },
    transports: circuit === undefined ? [tcp()] : [tcp(), circuit.circuitRelayTransport()],
    connectionEncrypters: [tls(), noise()],
    streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: YAMUX_WINDOW, maxStreamWindowSize: 4 * YAMUX_WINDOW } })],
    peerDiscovery: useMdns ? [mdns()] : [],
    connectionMonitor: CONNECTION_MONITOR,
    services: {
      identify: identify(),
      // a node whose addresses change (a home's relay slot, a UPnP mapping) tells its connected peers at once: without
      // it they keep the addresses of the first identify, and a DHT server answers with those for the node's records
      identifyPush: identifyPush(),
      ping: ping(),
      pubsub: pubsubService(),
      // a community's nodes sit on private and loopback addresses as often as public ones: none is mapped away
      ...(dht === undefined ? {} : { dht: dht.kadDHT({ protocol: DHT_PROTOCOL, clientMode: init.dht === 'client', peerInfoMapper: dht.passthroughMapper }) }),
      // AutoNAT judges public addresses only (a private one is never dialled back); UPnP needs it to confirm a mapping
      ...(autonat === undefined ? {} : { autoNAT: autonat.autoNAT() }),
      ...(holePunch === undefined ? {} : { dcutr: holePunch.dcutr() }),
      ...(circuit !== undefined && (relay === 'server' || relay === 'auto')
        ? {
            relay: circuit.circuitRelayServer({
              reservations: {
                maxReservations: RELAY_MAX_RESERVATIONS,
                defaultDurationLimit: RELAY_DURATION_LIMIT_MS,
                defaultDataLimit: BigInt(RELAY_DATA_LIMIT_BYTES)
              }
            })
          }
        : {}),
      ...(upnp === undefined ? {} : { upnp: upnp.uPnPNAT() }),
      // once its peers show it is behind NAT: no relay offered, a DHT client, a relay slot reserved
      ...(relay === 'auto' ? { autoRelay: autoRelay(init.autoRelay) } : {})
    }
  })
}
