import { execFileSync } from 'node:child_process'

/**
 * Real segments: Linux network namespaces for hosts, a bridge per segment inside a router namespace that routes
 * between them. Documentation ranges only: segment A is 192.0.2.0/24, B 198.51.100.0/24, C 203.0.113.0/25 and a
 * home behind NAT 203.0.113.128/25. Needs root and iproute2 (and nftables for the NAT), which .ci/run provides;
 * elsewhere the test says loudly why it cannot run.
 */
export function canRunNamespaces (options: { nat?: boolean } = {}): string | undefined {
  if (process.getuid?.() !== 0) return 'it needs root to create network namespaces'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'iproute2 (the ip command) is not installed'
  }
  if (options.nat === true) {
    try {
      execFileSync('nft', ['--version'], { stdio: 'ignore' })
    } catch {
      return 'nftables (the nft command) is not installed'
    }
  }
  return undefined
}

const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }) }
export const inNs = (ns: string, ...args: string[]): void => { ip('netns', 'exec', ns, ...args) }

export interface Host { name: string, ns: string, addr: string, gw: string, bridge: string }

/** Namespaces made under one prefix, deleted together by the cleanup registered at the start. */
class Namespaces {
  readonly prefix = `cm${process.pid % 100000}`
  private readonly made: string[] = []
  private links = 0

  constructor (onCleanup: (fn: () => void) => void) {
    onCleanup(() => { for (const ns of this.made) { try { ip('netns', 'del', ns) } catch {} } })
  }

  /** A namespace with its loopback up; a router forwards. */
  add (name: string, router = false): string {
    const ns = `${this.prefix}-${name}`
    this.made.push(ns)
    ip('netns', 'add', ns)
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
    if (router) inNs(ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
    return ns
  }

  /** A veth pair from `a` (named `aName` there) to `b` (named `bName`), both up. */
  link (a: string, aName: string, b: string, bName: string): void {
    const x = `${this.prefix}l${++this.links}x`
    const y = `${this.prefix}l${this.links}y`
    ip('link', 'add', x, 'type', 'veth', 'peer', 'name', y)
    ip('link', 'set', x, 'netns', a)
    ip('link', 'set', y, 'netns', b)
    inNs(a, 'ip', 'link', 'set', x, 'name', aName)
    inNs(b, 'ip', 'link', 'set', y, 'name', bName)
    inNs(a, 'ip', 'link', 'set', aName, 'up')
    inNs(b, 'ip', 'link', 'set', bName, 'up')
  }
}

/** A bridge (a segment) in router namespace `router`, the router's address on it `cidr`. */
function addBridge (router: string, bridge: string, cidr: string): void {
  inNs(router, 'ip', 'link', 'add', bridge, 'type', 'bridge')
  inNs(router, 'ip', 'addr', 'add', cidr, 'dev', bridge)
  inNs(router, 'ip', 'link', 'set', bridge, 'up')
}

/** A host namespace on `bridge` of `router` at `addr`/`prefixLen`, its default route through `gw`. */
function addHost (nss: Namespaces, router: string, name: string, addr: string, prefixLen: number, gw: string, bridge: string): Host {
  const ns = nss.add(name)
  nss.link(router, `v-${name}`, ns, 'eth0')
  inNs(router, 'ip', 'link', 'set', `v-${name}`, 'master', bridge)
  inNs(ns, 'ip', 'addr', 'add', `${addr}/${prefixLen}`, 'dev', 'eth0')
  inNs(ns, 'ip', 'route', 'add', 'default', 'via', gw)
  inNs(ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'eth0') // mDNS multicast leaves by eth0
  return { name, ns, addr, gw, bridge }
}

export function buildSegments (onCleanup: (fn: () => void) => void): { hosts: Map<string, Host> } {
  const nss = new Namespaces(onCleanup)
  const router = nss.add('r', true)
  addBridge(router, 'brA', '192.0.2.1/24')
  addBridge(router, 'brB', '198.51.100.1/24')
  const hosts = new Map<string, Host>()
  const plan: Array<[string, string, string, string]> = [
    ['a1', '192.0.2.11', '192.0.2.1', 'brA'], ['a2', '192.0.2.12', '192.0.2.1', 'brA'], ['a3', '192.0.2.13', '192.0.2.1', 'brA'],
    ['b1', '198.51.100.11', '198.51.100.1', 'brB'], ['b2', '198.51.100.12', '198.51.100.1', 'brB']
  ]
  for (const [name, addr, gw, bridge] of plan) hosts.set(name, addHost(nss, router, name, addr, 24, gw, bridge))
  return { hosts }
}

/**
 * A neighbourhood of three segments in a row, each pair joined by a router namespace (no multicast crosses one):
 * A 192.0.2.0/24 and B 198.51.100.0/24 joined by r1, B and C 203.0.113.0/25 by r2, which is B's .2. A home router
 * on C (203.0.113.2) masquerades its home 203.0.113.128/25 (nftables) and drops connections begun outside: nothing
 * routes to the home, which dials out only. Hosts: a1 on A, b1 on B, c1 on C, h1 at home (203.0.113.130).
 */
export function buildNeighbourhood (onCleanup: (fn: () => void) => void): { hosts: Map<string, Host> } {
  const nss = new Namespaces(onCleanup)
  const r1 = nss.add('r1', true)
  addBridge(r1, 'brA', '192.0.2.1/24')
  addBridge(r1, 'brB', '198.51.100.1/24')
  const r2 = nss.add('r2', true)
  nss.link(r1, 'v-r2', r2, 'eth0')
  inNs(r1, 'ip', 'link', 'set', 'v-r2', 'master', 'brB')
  inNs(r2, 'ip', 'addr', 'add', '198.51.100.2/24', 'dev', 'eth0')
  addBridge(r2, 'brC', '203.0.113.1/25')
  inNs(r1, 'ip', 'route', 'add', '203.0.113.0/25', 'via', '198.51.100.2')
  inNs(r2, 'ip', 'route', 'add', '192.0.2.0/24', 'via', '198.51.100.1')
  const hosts = new Map<string, Host>()
  hosts.set('a1', addHost(nss, r1, 'a1', '192.0.2.11', 24, '192.0.2.1', 'brA'))
  hosts.set('b1', addHost(nss, r1, 'b1', '198.51.100.11', 24, '198.51.100.1', 'brB'))
  inNs(hosts.get('b1')!.ns, 'ip', 'route', 'add', '203.0.113.0/25', 'via', '198.51.100.2')
  hosts.set('c1', addHost(nss, r2, 'c1', '203.0.113.11', 25, '203.0.113.1', 'brC'))
  // the home router: its WAN on C, the home behind it
  const nat = nss.add('nat', true)
  nss.link(r2, 'v-nat', nat, 'wan')
  inNs(r2, 'ip', 'link', 'set', 'v-nat', 'master', 'brC')
  inNs(nat, 'ip', 'addr', 'add', '203.0.113.2/25', 'dev', 'wan')
  inNs(nat, 'ip', 'route', 'add', 'default', 'via', '203.0.113.1')
  addBridge(nat, 'brH', '203.0.113.129/25')
  hosts.set('h1', addHost(nss, nat, 'h1', '203.0.113.130', 25, '203.0.113.129', 'brH'))
  const nft = (...args: string[]): void => { inNs(nat, 'nft', ...args) }
  nft('add', 'table', 'ip', 'cmnat')
  nft('add', 'chain', 'ip', 'cmnat', 'outbound', '{ type nat hook postrouting priority 100 ; }')
  nft('add', 'rule', 'ip', 'cmnat', 'outbound', 'oifname', 'wan', 'masquerade')
  nft('add', 'chain', 'ip', 'cmnat', 'inbound', '{ type filter hook forward priority 0 ; }')
  nft('add', 'rule', 'ip', 'cmnat', 'inbound', 'iifname', 'wan', 'ct', 'state', 'new', 'drop')
  return { hosts }
}
