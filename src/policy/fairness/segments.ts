import { networkInterfaces } from 'node:os'
import { isIPv4 } from 'node:net'

interface Subnet { network: number, mask: number }

const toInt = (ip: string): number => ip.split('.').reduce((n, part) => (n * 256) + Number(part), 0) >>> 0

/** IPv4 subnets of this host's non-loopback interfaces: a peer inside one is on our segment. */
export function localSubnets (): Subnet[] {
  const out: Subnet[] = []
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue
      const mask = toInt(a.netmask)
      out.push({ network: toInt(a.address) & mask, mask })
    }
  }
  return out
}

/** The IPv4 address in a multiaddr string, if any. */
export function ipv4Of (addr: string): string | undefined {
  const m = /^\/ip4\/([0-9.]+)\//.exec(addr)
  return m !== null && isIPv4(m[1]!) ? m[1] : undefined
}

/** Whether `addr` (a multiaddr string) lies in one of `subnets`. */
export function onSegment (addr: string, subnets: Subnet[] = localSubnets()): boolean {
  const ip = ipv4Of(addr)
  if (ip === undefined) return false
  const n = toInt(ip)
  return subnets.some(s => ((n & s.mask) >>> 0) === (s.network >>> 0))
}
