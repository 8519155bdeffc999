import { isIPv4, isIPv6 } from 'node:net'
import { localSubnets, onSegment } from './segments.js'
import { DEFAULT_GROUP_PREFIX_V4, DEFAULT_GROUP_PREFIX_V6, DEFAULT_SEGMENT_PREFIX_V4 } from './constants.js'

export interface GroupingOptions {
  /** Remote IPv4 peers share a group per this prefix. @default 24 (DEFAULT_GROUP_PREFIX_V4) */
  prefixV4?: number
  /** IPv6 peers share a group per this prefix. @default 64 (DEFAULT_GROUP_PREFIX_V6) */
  prefixV6?: number
  /** IPv4 peers on our own segment share a group per this prefix. @default 32 (DEFAULT_SEGMENT_PREFIX_V4) */
  segmentPrefixV4?: number
  /** Our interfaces' subnets. @default localSubnets() */
  subnets?: ReturnType<typeof localSubnets>
}

/**
 * The upload group of a peer connected from `addr` (a multiaddr string): peers behind one address or subnet
 * share a group, so identities a host makes up cost it nothing in share and win it nothing. Addresses without an
 * IP (relays, memory transports) leave the peer a group of its own, named after `peer`.
 */
export function uploadGroup (addr: string | undefined, peer: string, options: GroupingOptions = {}): string {
  const m = addr === undefined ? null : /^\/(ip4|ip6)\/([^/]+)/.exec(addr)
  if (m === null) return `peer:${peer}`
  const ip = m[2]!
  if (m[1] === 'ip4' && isIPv4(ip)) {
    const subnets = options.subnets ?? localSubnets()
    const bits = onSegment(addr!, subnets) ? options.segmentPrefixV4 ?? DEFAULT_SEGMENT_PREFIX_V4 : options.prefixV4 ?? DEFAULT_GROUP_PREFIX_V4
    return `ip4:${maskV4(ip, bits)}/${bits}`
  }
  if (m[1] === 'ip6' && isIPv6(ip)) {
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
    if (v4 !== null) return uploadGroup(`/ip4/${v4[1]!}/`, peer, options)
    const bits = options.prefixV6 ?? DEFAULT_GROUP_PREFIX_V6
    return `ip6:${maskV6(ip, bits)}/${bits}`
  }
  return `peer:${peer}`
}

function maskV4 (ip: string, bits: number): string {
  const n = ip.split('.').reduce((a, p) => a * 256 + Number(p), 0)
  const masked = bits <= 0 ? 0 : Math.floor(n / 2 ** (32 - bits)) * 2 ** (32 - bits)
  return [24, 16, 8, 0].map(s => Math.floor(masked / 2 ** s) % 256).join('.')
}

function maskV6 (ip: string, bits: number): string {
  const words = expandV6(ip)
  const out: string[] = []
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16))
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff
    out.push((words[i]! & mask).toString(16))
  }
  return out.join(':')
}

/** The eight 16-bit words of an IPv6 address (`::` expanded; a trailing dotted quad read as two words). */
function expandV6 (ip: string): number[] {
  let text = ip.toLowerCase().split('%')[0]!
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, quad.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0')
  return [...h, ...fill, ...t].map(w => parseInt(w, 16))
}
