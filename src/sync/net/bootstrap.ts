import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidOptionError } from '../../errors.js'

/** Bootstrap entries: addresses to dial, and peers given by id alone (dialled at the addresses known for them). */
export interface Bootstrap {
  /** Multiaddrs as given (each with or without /p2p/). */
  addrs: string[]
  /** Peer ids given alone: their addresses come from the peer memory (peers.json) or mDNS. */
  peers: string[]
}

/**
 * Parse `--bootstrap` values: each a peer id alone (`12D3KooW...`), or one or more multiaddrs separated by commas.
 * Addresses must be DNS-free (`/ip4/`, `/ip6/`): a neighbourhood works without a resolver, and a name would make
 * the node's first dial depend on one. Anything else is ERR_INVALID_OPTION.
 */
export function parseBootstrap (values: string[] = []): Bootstrap {
  const out: Bootstrap = { addrs: [], peers: [] }
  for (const value of values) {
    for (const entry of value.split(',').map(e => e.trim()).filter(e => e !== '')) {
      if (!entry.startsWith('/')) {
        try {
          out.peers.push(peerIdFromString(entry).toString())
        } catch {
          throw new InvalidOptionError(`bootstrap: ${entry.slice(0, 80)} is neither a peer id nor a multiaddr`)
        }
        continue
      }
      let names: string[]
      try {
        names = multiaddr(entry).getComponents().map(c => c.name)
      } catch {
        throw new InvalidOptionError(`bootstrap: ${entry.slice(0, 80)} is not a multiaddr`)
      }
      if (names[0] !== 'ip4' && names[0] !== 'ip6') throw new InvalidOptionError(`bootstrap: ${entry.slice(0, 80)} must start with /ip4/ or /ip6/ (no DNS names)`)
      out.addrs.push(entry)
    }
  }
  return out
}
