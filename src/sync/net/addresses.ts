import type { Multiaddr } from '@multiformats/multiaddr'

/** True for 127.0.0.0/8 and ::1 addresses. */
export function isLoopback (addr: Multiaddr | string): boolean {
  const text = addr.toString()
  return text.startsWith('/ip4/127.') || text.startsWith('/ip6/::1/')
}

/**
 * What a node tells others (mDNS answers, identify): never its loopback addresses, which on another host
 * would point at that host itself.
 */
export function announceable<T extends Multiaddr | string> (addrs: T[]): T[] {
  return addrs.filter(a => !isLoopback(a))
}
