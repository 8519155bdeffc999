import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'
import { ForbiddenDestinationError } from '../../errors.js'

/**
 * What kind of address a destination is. `public` is anything routable on the internet; the documentation ranges
 * (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) count as public, so test networks in namespaces
 * can stand in for the internet.
 */
export type AddressClass = 'loopback' | 'unspecified' | 'link-local' | 'private' | 'multicast' | 'reserved' | 'public'

export interface DestinationOptions {
  /** Allow private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): a LAN service as an origin. @default false */
  allowPrivate?: boolean
  /**
   * Allow loopback and this machine's own addresses: an origin on this very machine. Never turn it on where
   * others can make this node connect (a proxy open to the LAN, a cache that fetches for peers) unless every
   * local service is meant for them. @default false
   */
  allowLoopback?: boolean
  /** This machine's own addresses. @default the addresses of its network interfaces, read at each check */
  ownAddresses?: () => Iterable<string>
  /** Name resolution. @default node:dns lookup (getaddrinfo, as connections use) */
  lookup?: typeof dnsLookup
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** Parse an IPv6 address into eight 16-bit groups (an embedded dotted quad included); undefined if it is not one. */
function ipv6Groups (address: string): number[] | undefined {
  let a = address.toLowerCase()
  const zone = a.indexOf('%')
  if (zone >= 0) a = a.slice(0, zone)
  if (isIP(a) !== 6) return undefined
  const tail: number[] = []
  const lastColon = a.lastIndexOf(':')
  const last = a.slice(lastColon + 1)
  if (last.includes('.')) {
    const q = last.split('.').map(Number)
    tail.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!)
    a = a.slice(0, lastColon + 1) + '0:0' // placeholder groups, replaced below
  }
  const [head, rest] = a.includes('::') ? a.split('::') as [string, string] : [a, undefined]
  const parse = (s: string): number[] => s === '' ? [] : s.split(':').map(h => parseInt(h, 16))
  let groups: number[]
  if (rest === undefined) groups = parse(head)
  else {
    const h = parse(head)
    const r = parse(rest)
    groups = [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r]
  }
  if (tail.length > 0) groups.splice(groups.length - 2, 2, ...tail)
  return groups.length === 8 ? groups : undefined
}

function classifyV4 (a: string): AddressClass {
  const [x, y, z] = a.split('.').map(Number) as [number, number, number, number]
  if (x === 0) return 'unspecified'
  if (x === 127) return 'loopback'
  if (x === 10 || (x === 172 && y >= 16 && y < 32) || (x === 192 && y === 168) || (x === 100 && y >= 64 && y < 128)) return 'private'
  if (x === 169 && y === 254) return 'link-local'
  if (x >= 224 && x < 240) return 'multicast'
  if (x >= 240) return 'reserved' // 240/4 and the broadcast address
  if ((x === 192 && y === 0 && z === 0) || (x === 198 && (y === 18 || y === 19))) return 'reserved'
  return 'public'
}

/** The class of an IP address (IPv4, IPv6, IPv4-mapped, NAT64 and 6to4 embeddings of IPv4). */
export function classifyAddress (address: string): AddressClass {
  if (isIP(address) === 4) return classifyV4(address)
  const g = ipv6Groups(address)
  if (g === undefined) return 'reserved'
  const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  if (g.every(x => x === 0)) return 'unspecified'
  if (g.slice(0, 7).every(x => x === 0) && g[7] === 1) return 'loopback'
  if (g.slice(0, 5).every(x => x === 0) && g[5] === 0xffff) return classifyV4(v4(g[6]!, g[7]!)) // ::ffff:a.b.c.d
  if (g.slice(0, 6).every(x => x === 0)) return 'reserved' // IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every(x => x === 0)) return classifyV4(v4(g[6]!, g[7]!)) // NAT64
  if (g[0] === 0x2002) return classifyV4(v4(g[1]!, g[2]!)) // 6to4
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private'
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local'
  if ((g[0]! & 0xffc0) === 0xfec0) return 'private' // site-local (deprecated)
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast'
  return 'public'
}

/** The same address written one way: IPv4 dotted, IPv6 as eight groups, IPv4-mapped IPv6 as its IPv4. */
function canonical (address: string): string {
  if (isIP(address) === 4) return address
  const g = ipv6Groups(address)
  if (g === undefined) return address
  if (g.slice(0, 5).every(x => x === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`
  return g.map(x => x.toString(16)).join(':')
}

/** The addresses of this machine's network interfaces. */
export function interfaceAddresses (): string[] {
  return Object.values(networkInterfaces()).flatMap(list => (list ?? []).map(i => i.address))
}

/** A host as URLs write it, without IPv6 brackets or a trailing dot. */
function bareHost (host: string): string {
  let h = host.toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  while (h.endsWith('.')) h = h.slice(0, -1)
  return h
}

/**
 * Decides where this node may connect on someone else's behalf, on resolved addresses: a name is resolved and
 * every address it resolves to is checked, and connections use `lookup`, which hands the socket only checked
 * addresses (so a name that resolves elsewhere by the time of the connection, DNS rebinding, is caught too).
 */
export class DestinationGuard {
  private readonly own: () => Iterable<string>
  private readonly resolver: typeof dnsLookup

  constructor (private readonly options: DestinationOptions = {}) {
    this.own = options.ownAddresses ?? interfaceAddresses
    this.resolver = options.lookup ?? dnsLookup
  }

  /** Why `address` is forbidden, or undefined when it is permitted. */
  reason (address: string): string | undefined {
    const cls = classifyAddress(address)
    const { allowLoopback = false, allowPrivate = false } = this.options
    if (cls === 'loopback') return allowLoopback ? undefined : 'a loopback address (this machine)'
    if (cls === 'unspecified' || cls === 'link-local' || cls === 'multicast' || cls === 'reserved') return `a ${cls} address`
    if (!allowLoopback) {
      const c = canonical(address)
      for (const own of this.own()) if (canonical(own) === c) return 'an address of this machine'
    }
    if (cls === 'private' && !allowPrivate) return 'a private-network address (not allowed by configuration)'
    return undefined
  }

  /**
   * What a host literally names, without resolving it: forbidden for an IP literal or a `localhost` name that is
   * not permitted, else undefined (a name, or a permitted address). For checks that cannot wait for DNS.
   */
  literalReason (host: string): string | undefined {
    const h = bareHost(host)
    if (h === 'localhost' || h.endsWith('.localhost')) return this.reason('127.0.0.1')
    return isIP(h) !== 0 ? this.reason(h) : undefined
  }

  /** Resolve `host` and check every address; throws ForbiddenDestinationError if any is forbidden. */
  async resolve (host: string): Promise<LookupAddress[]> {
    const h = bareHost(host)
    const literal = this.literalReason(h)
    if (literal !== undefined) throw new ForbiddenDestinationError(host, undefined, literal)
    const addresses = isIP(h) !== 0
      ? [{ address: h, family: isIP(h) }]
      : await new Promise<LookupAddress[]>((resolve, reject) => {
        this.resolver(h, { all: true }, (err, list) => { if (err !== null) reject(err); else resolve(list) })
      })
    for (const a of addresses) {
      const why = this.reason(a.address)
      if (why !== undefined) throw new ForbiddenDestinationError(host, a.address, why)
    }
    return addresses
  }

  /** Is `host` permitted? Resolution failures count as permitted: the connection itself will fail. */
  async permits (host: string): Promise<boolean> {
    try {
      await this.resolve(host)
      return true
    } catch (err) {
      return !(err instanceof ForbiddenDestinationError)
    }
  }

  /** A `lookup` for node:net and node:http that resolves with this guard: sockets reach only permitted addresses. */
  readonly lookup = (hostname: string, options: unknown, callback: LookupCallback): void => {
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true
    this.resolve(hostname).then(list => {
      if (all) callback(null, list)
      else callback(null, list[0]!.address, list[0]!.family)
    }, (err: NodeJS.ErrnoException) => { callback(err, all ? [] : '', 0) })
  }

  private agents: { http?: HttpAgent, https?: HttpsAgent } = {}

  /** A keep-alive agent whose connections resolve through this guard (never shared with unguarded requests). */
  agent (protocol: string): HttpAgent {
    if (protocol === 'https:') return (this.agents.https ??= new HttpsAgent({ keepAlive: true, lookup: this.lookup as never }))
    return (this.agents.http ??= new HttpAgent({ keepAlive: true, lookup: this.lookup as never }))
  }

  /** Close the agents' idle connections. */
  close (): void {
    this.agents.http?.destroy()
    this.agents.https?.destroy()
    this.agents = {}
  }
}
