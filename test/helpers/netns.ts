import { execFileSync } from 'node:child_process'

/**
 * Real segments: Linux network namespaces for hosts, a bridge per segment inside a router namespace that routes
 * between them. Segment A is 192.0.2.0/24, segment B 198.51.100.0/24 (documentation ranges). Needs root and
 * iproute2, which .ci/run provides; elsewhere the test says loudly why it cannot run.
 */
export function canRunNamespaces (): string | undefined {
  if (process.getuid?.() !== 0) return 'it needs root to create network namespaces'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'iproute2 (the ip command) is not installed'
  }
  return undefined
}

const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }) }
export const inNs = (ns: string, ...args: string[]): void => { ip('netns', 'exec', ns, ...args) }

export interface Host { name: string, ns: string, addr: string, gw: string, bridge: string }

export function buildSegments (onCleanup: (fn: () => void) => void): { hosts: Map<string, Host> } {
  const p = `cm${process.pid % 100000}`
  const router = `${p}-r`
  const namespaces = [router]
  onCleanup(() => { for (const ns of namespaces) { try { ip('netns', 'del', ns) } catch {} } })
  ip('netns', 'add', router)
  inNs(router, 'ip', 'link', 'set', 'lo', 'up')
  inNs(router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
  for (const [br, cidr] of [['brA', '192.0.2.1/24'], ['brB', '198.51.100.1/24']] as const) {
    inNs(router, 'ip', 'link', 'add', br, 'type', 'bridge')
    inNs(router, 'ip', 'addr', 'add', cidr, 'dev', br)
    inNs(router, 'ip', 'link', 'set', br, 'up')
  }
  const hosts = new Map<string, Host>()
  const plan: Array<[string, string, string, string]> = [
    ['a1', '192.0.2.11', '192.0.2.1', 'brA'], ['a2', '192.0.2.12', '192.0.2.1', 'brA'], ['a3', '192.0.2.13', '192.0.2.1', 'brA'],
    ['b1', '198.51.100.11', '198.51.100.1', 'brB'], ['b2', '198.51.100.12', '198.51.100.1', 'brB']
  ]
  for (const [name, addr, gw, bridge] of plan) {
    const ns = `${p}-${name}`
    namespaces.push(ns)
    ip('netns', 'add', ns)
    ip('link', 'add', `${p}${name}x`, 'type', 'veth', 'peer', 'name', `${p}${name}y`)
    ip('link', 'set', `${p}${name}x`, 'netns', router)
    ip('link', 'set', `${p}${name}y`, 'netns', ns)
    inNs(router, 'ip', 'link', 'set', `${p}${name}x`, 'master', bridge)
    inNs(router, 'ip', 'link', 'set', `${p}${name}x`, 'up')
    inNs(ns, 'ip', 'link', 'set', `${p}${name}y`, 'name', 'eth0')
    inNs(ns, 'ip', 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
    inNs(ns, 'ip', 'link', 'set', 'eth0', 'up')
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
    inNs(ns, 'ip', 'route', 'add', 'default', 'via', gw)
    inNs(ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'eth0') // mDNS multicast leaves by eth0
    hosts.set(name, { name, ns, addr, gw, bridge })
  }
  return { hosts }
}
