import { networkInterfaces } from 'node:os'
import { serviceDependencies, type ComponentLogger, type IdentifyResult, type Libp2pEvents, type Logger, type Startable, type TypedEventTarget } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { MAX_NAT_OBSERVERS, NAT_EVIDENCE_PEERS, RELAY_RESERVATION_ADDR } from './constants.js'

/**
 * What a node in relay mode 'auto' concluded about its reachability: 'unknown' before any peer on a direct
 * connection told it where it saw it; 'direct' while peers see it at its own addresses; 'behind-nat' once enough
 * peers saw it at an address that is not its own (address translation on the way out); 'mapped' when AutoNAT
 * confirmed a public address it is dialable at (a UPnP mapping, a 1:1 NAT), whatever peers saw.
 */
export type NatVerdict = 'unknown' | 'direct' | 'behind-nat' | 'mapped'

export interface NatJudgement {
  verdict: NatVerdict
  /** Observers (peers at distinct IP addresses) that saw this node at an IP that is not its own. */
  translated: number
  /** Observers that saw it at one of its own IPs (a peer on the same segment, or no NAT on the way). */
  untranslated: number
}

/** The stable outcome of the 'auto' relay mode, for `/health`, the node's API and tests. */
export interface AutoRelayStatus extends NatJudgement {
  /** The node asked for a relay slot (it listens on /p2p-circuit); once asked, it keeps its slot until it stops. */
  reserving: boolean
  /** Relays it holds a slot on now (distinct relays among its /p2p-circuit addresses). */
  reservations: number
}

export interface AutoRelayInit {
  /** Observers at distinct IP addresses that must see a translated address before the node reserves. @default NAT_EVIDENCE_PEERS */
  threshold?: number
  /** The IP addresses of the host's interfaces, besides those the node listens on. @default os.networkInterfaces() */
  interfaceIps?: () => string[]
}

/** The few libp2p components the service uses; `relay` and `dht` are the node's own services when configured. */
export interface AutoRelayComponents {
  events: Pick<TypedEventTarget<Libp2pEvents>, 'addEventListener' | 'removeEventListener'>
  addressManager: {
    getAddresses: () => Multiaddr[]
    getAddressesWithMetadata: () => Array<{ multiaddr: Multiaddr, verified: boolean, type: string }>
  }
  transportManager: { getAddrs: () => Multiaddr[], listen: (addrs: Multiaddr[]) => Promise<void> }
  logger: ComponentLogger
  /** The circuit relay server (its public interface does not show that it is Startable). */
  relay?: unknown
  dht?: { getMode: () => 'client' | 'server', setMode: (mode: 'client' | 'server') => Promise<void> }
}

/** The IP address a multiaddr starts with (lower case), or undefined for one with none (a relay's circuit, a DNS name). */
export function ipOf (addr: Multiaddr | string): string | undefined {
  return /^(?:\/ip6zone\/[^/]+)?\/ip[46]\/([^/]+)/.exec(addr.toString())?.[1]?.toLowerCase()
}

/**
 * Whether a node is behind address translation, from what peers on direct connections saw: `seen` maps each
 * observer's IP to the IP it saw this node's connection come from (the port is left out: outgoing connections use
 * ephemeral ones). 'behind-nat' once `threshold` observers saw an IP not in `own`, even while others (the home's own
 * segment) see one in it; 'mapped' overrides it when AutoNAT confirmed a public address.
 */
export function judgeNat (
  own: ReadonlySet<string>, seen: ReadonlyMap<string, string>, options: { threshold: number, publicConfirmed?: boolean }
): NatJudgement {
  let translated = 0
  for (const ip of seen.values()) if (!own.has(ip)) translated++
  const untranslated = seen.size - translated
  const verdict: NatVerdict = options.publicConfirmed === true
    ? 'mapped'
    : translated >= Math.max(1, options.threshold) ? 'behind-nat' : seen.size > 0 ? 'direct' : 'unknown'
  return { verdict, translated, untranslated }
}

const isCircuit = (a: Multiaddr): boolean => a.toString().includes('/p2p-circuit')

const hostIps = (): string[] => Object.values(networkInterfaces()).flatMap(list => (list ?? []).map(i => i.address.toLowerCase()))

/**
 * Relay mode 'auto' (a libp2p service): a node that is not told it is behind NAT finds out from identify, where each
 * peer says at which address it saw the node (`observedAddr`). AutoNAT cannot say it on a community network: it
 * never dials private addresses back. Once `threshold` peers at distinct IPs, over direct connections, saw it at an IP
 * that is not one of its own, the node stops offering a relay (a slot on it would be unreachable), turns a DHT server
 * into a client (it cannot be dialled to answer), and listens on /p2p-circuit: the relay transport reserves a slot on a
 * relay among its peers. Observations over relayed connections are left out; a peer at the node's own IP is not evidence.
 */
export class AutoRelay {
  readonly [Symbol.toStringTag] = 'cmesh:auto-relay'
  readonly [serviceDependencies] = ['@libp2p/identify']
  private readonly log: Logger
  private readonly threshold: number
  private readonly interfaceIps: () => string[]
  /** Observer IP -> the IP it saw this node at; the oldest observer is forgotten past MAX_NAT_OBSERVERS. */
  private readonly seen = new Map<string, string>()
  private judgement: NatJudgement = { verdict: 'unknown', translated: 0, untranslated: 0 }
  private reserving = false
  private running = false

  constructor (private readonly components: AutoRelayComponents, init: AutoRelayInit = {}) {
    this.log = components.logger.forComponent('cmesh:auto-relay')
    this.threshold = init.threshold ?? NAT_EVIDENCE_PEERS
    this.interfaceIps = init.interfaceIps ?? hostIps
  }

  start (): void {
    this.running = true
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
  }

  stop (): void {
    this.running = false
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
  }

  status (): AutoRelayStatus {
    const relays = new Set(this.components.addressManager.getAddresses().filter(isCircuit)
      .map(a => /\/p2p\/([^/]+)\/p2p-circuit/.exec(a.toString())?.[1] ?? a.toString()))
    return { ...this.judgement, reserving: this.reserving, reservations: relays.size }
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { observedAddr, connection } = evt.detail
    if (observedAddr === undefined || connection.limits != null || isCircuit(connection.remoteAddr)) return
    const by = ipOf(connection.remoteAddr)
    const at = ipOf(observedAddr)
    if (by === undefined || at === undefined) return
    this.seen.delete(by)
    this.seen.set(by, at)
    if (this.seen.size > MAX_NAT_OBSERVERS) this.seen.delete(this.seen.keys().next().value!)
    this.judge()
  }

  private readonly onSelfUpdate = (): void => { this.judge() }

  private judge (): void {
    const { addressManager, transportManager } = this.components
    const own = new Set([...this.interfaceIps(), ...transportManager.getAddrs().map(ipOf)].filter(ip => ip !== undefined))
    // AutoNAT's verdict where it has one: a translated address (observed, or a UPnP mapping) confirmed dialable
    const publicConfirmed = addressManager.getAddressesWithMetadata()
      .some(a => a.verified && (a.type === 'observed' || a.type === 'ip-mapping') && !isCircuit(a.multiaddr))
    const before = this.judgement.verdict
    this.judgement = judgeNat(own, this.seen, { threshold: this.threshold, publicConfirmed })
    if (this.judgement.verdict !== before) this.log('reachability %s -> %s (%d translated, %d not)', before, this.judgement.verdict, this.judgement.translated, this.judgement.untranslated)
    if (this.judgement.verdict === 'behind-nat' && !this.reserving && this.running) {
      this.reserving = true
      this.reserve().catch(err => { this.log.error('could not ask for a relay slot - %e', err) })
    }
  }

  private async reserve (): Promise<void> {
    // a home behind NAT offers no relay: a slot on it would be unreachable from outside
    await (sibling(this.components, 'relay') as Partial<Startable> | undefined)?.stop?.()
    const dht = sibling(this.components, 'dht')
    if (dht?.getMode() === 'server') await dht.setMode('client')
    await this.components.transportManager.listen([multiaddr(RELAY_RESERVATION_ADDR)])
  }
}

/** A service of the node by name, or undefined: libp2p's components throw for a service that was not configured. */
function sibling<K extends 'relay' | 'dht'> (components: AutoRelayComponents, name: K): AutoRelayComponents[K] | undefined {
  try {
    return components[name]
  } catch {
    return undefined
  }
}

/** The 'auto' relay mode as a libp2p service factory (`services: { autoRelay: autoRelay() }`). */
export function autoRelay (init: AutoRelayInit = {}): (components: AutoRelayComponents) => AutoRelay {
  return components => new AutoRelay(components, init)
}
