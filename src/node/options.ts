import type { AnalyticsOptions } from '../analytics/analytics.js'
import type { Clock } from '../clock.js'
import type { CollectionsOptions } from '../sync/collections/collections.js'
import type { UrlCacheOptions } from '../sync/cache/url-cache-interface.js'

export interface NodeOptions {
  /** Repository directory. @default $CMESH_REPO, else ~/.cmesh */
  repo?: string
  /** Store capacity in bytes. @default the repository's config.json `capacity`, else unlimited */
  capacity?: number
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/0'], or the repository's port with `fixedPort` */
  listen?: string[]
  /**
   * Without `listen`: listen on every IPv4 interface at the repository's port (config.json `port`, else
   * DEFAULT_PORT 4737), written to config.json on the first start so a restart reuses it; when that port is
   * busy, a random one, with a warning. The daemon and the proxy set it. @default false
   */
  fixedPort?: boolean
  /**
   * Peers to dial at start and keep connected: each a peer id alone (dialled at the addresses remembered for it
   * or found by mDNS) or DNS-free multiaddrs, several separated by commas (see parseBootstrap). @default []
   */
  bootstrap?: string[]
  /** Find peers on the local segment with mDNS (off when listening on loopback only). @default true */
  mdns?: boolean
  /** Upload limit in bytes a second, over all peers. @default unlimited */
  uploadLimit?: number
  /** Ask peers which blocks they hold and fetch the rarest first (see BlockServiceOptions). @default false */
  rarestFirst?: boolean
  /** Send blocks compressed when that saves at least 10 % (see BlockServiceOptions). @default true */
  compress?: boolean
  /**
   * Trade holdings with the peers downloading the same file (/cmesh/holdings/1.0.0, see HoldingsService): fetches
   * ask first the peers that said they hold a block, and go rarest first by what they said. Off until bench:crowd
   * shows it pays. @default false
   */
  trading?: boolean
  /**
   * With `trading`: send each leaf of a file this node holds whole about once and let the downloaders pass it on
   * (BitTorrent's super-seeding, see SuperSeeder). Off by default: in bench:crowd it cut the seeder's copies by
   * half, and made downloads slower. @default false
   */
  superSeed?: boolean
  /**
   * Also speak bitswap 1.2 (by @helia/bitswap), so IPFS nodes (Helia, Kubo) fetch this node's blocks and it fetches
   * theirs, under the same upload scheduler. @default true
   */
  bitswap?: boolean
  /**
   * Serve blocks as deltas against blocks the asker holds (/cmesh/delta/1.0.0, src/sync/delta) to peers updating
   * from an older version; this node asks for them whenever it updates from a version it holds. @default true
   */
  serveDeltas?: boolean
  /**
   * The community's Kad-DHT (`/cmesh/kad/1.0.0`, never the public IPFS one): 'server' answers queries and holds
   * provider records, 'client' only asks. With it, the node provides the roots it pins, and a fetch that finds no
   * holder among its connections asks the DHT. @default 'off' (`cmesh daemon` runs a server)
   */
  dht?: 'server' | 'client' | 'off'
  /**
   * What the node provides on the DHT: 'roots', the roots it pins; 'files', also the root of every file and
   * directory inside a pinned directory (a fetch of one file then finds holders of the whole tree), all within
   * the bound of MAX_PROVIDED_ROOTS keys. @default 'roots'
   */
  dhtProvide?: 'roots' | 'files'
  /**
   * Homes behind NAT (circuit relay v2 with AutoNAT and DCUtR hole punching): 'server' offers a relay with limits
   * (duration, data and reservation caps, see RELAY_* in node/constants.ts) to peers that cannot be dialled;
   * 'client' reserves a slot on a relay among its peers and is dialled through it, then upgraded to a direct
   * connection by hole punching where the NAT allows; 'auto' offers a relay until peers on direct connections
   * show it is behind NAT (NAT_EVIDENCE_PEERS of them saw it at an address not its own), then stops offering it,
   * turns a DHT server into a client and reserves a slot like 'client' (`node.nat()` says what it decided).
   * @default 'off' (`cmesh daemon` runs 'auto')
   */
  relay?: 'auto' | 'server' | 'client' | 'off'
  /** Ask the home router for a port by UPnP (harmless where there is none). @default false (`cmesh daemon` asks) */
  upnp?: boolean
  /**
   * Blocks (the cmesh block protocol, holdings, bitswap) also flow over relayed connections, within the relay's
   * data cap. Off: a peer reached only through a relay is asked for blocks once a direct connection exists. @default false
   */
  allowRelayedTransfers?: boolean
  /** Ask newly identified peers whom they know and dial those (`/cmesh/pex/1.0.0`). @default true */
  peerExchange?: boolean
  /** The community cache (URL -> CID): owners, budget, gossip and prefetch timings, an event hook. */
  urlCache?: UrlCacheOptions
  /** Serve blocks over HTTP as an IPFS trustless gateway (`GET /ipfs/{cid}`) on this host and port. @default off */
  gateway?: { host?: string, port?: number }
  /** Community collections: anti-entropy and auto-sync timings (see CollectionsOptions). */
  collections?: CollectionsOptions
  /** Connections below which the node dials peers it knows (bootstrap, mDNS, peer exchange, earlier). @default 4 */
  minPeers?: number
  /**
   * Fail when none of the bootstrap addresses can be reached at start (a one-off command needs its peers). A
   * daemon sets it false: it starts anyway and keeps dialling them in the background. @default true
   */
  bootstrapRequired?: boolean
  /**
   * What createNode waits for before it returns: 'all' the bootstrap dials settled, 'first' the first of them
   * connected (the others go on, and join a download already running as they connect: a one-off `cmesh fetch`
   * starts on its first peer instead of its slowest). @default 'all'
   */
  bootstrapWait?: 'all' | 'first'
  /**
   * Fair upload scheduling (deficit round robin over address groups, share cap, unchoking, priorities from
   * `<repo>/policy.json`); false serves requests first come, first served. @default policy.json fairness.enabled, else true
   */
  fair?: boolean
  /** Local counters and differentially private releases (see AnalyticsOptions). @default the repo's policy.json */
  analytics?: AnalyticsOptions
  /**
   * Told what an operator should know: the fixed port was busy, a bootstrap peer or a peer of another segment
   * connected before has been unreachable for a minute (or is reached again). @default nothing
   */
  onWarning?: (message: string) => void
  /** Time for the peer memory's writes and the reachability checks. @default systemClock */
  clock?: Clock
  /** Reachability warnings: after how long unreachable, checked how often (ms). @default 60 s, 10 s */
  reachability?: { warnAfterMs?: number, checkMs?: number }
}

/** How a connected peer is reached (see PeerInfo.reach). */
export type PeerReach = 'direct' | 'hole-punched' | 'relayed'

export interface PeerInfo {
  peerId: string
  /** Addresses it can be dialled at: announced by the peer (identify) or dialled by us; never an inbound ephemeral port. */
  addrs: string[]
  /** 'same' when the peer's address lies in one of our interfaces' subnets (the local segment). */
  segment: 'same' | 'other'
  /**
   * How it is reached: 'direct', 'hole-punched' (a direct connection that followed a relayed one, DCUtR) or
   * 'relayed' (only through a circuit relay, a limited connection).
   */
  reach: PeerReach
  /** Round-trip time of the last ping, in ms. */
  rttMs?: number
  /** When we last had a connection open to it (ms since the epoch). */
  lastSeen: number
  /** When this node first connected to it (ms since the epoch). */
  firstConnected?: number
  blocksServed: number
  bytesReceived: number
  score: number
}
