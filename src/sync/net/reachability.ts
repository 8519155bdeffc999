import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { systemClock, type Clock } from '../../clock.js'
import type { Bootstrap } from './bootstrap.js'
import { REACHABILITY_CHECK_MS, UNREACHABLE_WARN_MS } from './constants.js'
import type { RememberedPeer } from './peer-memory.js'

export interface ReachabilityComponents {
  libp2p: Pick<Libp2p, 'getPeers' | 'getConnections'>
  /** @default systemClock */
  clock?: Clock
}

export interface ReachabilityOptions {
  /** The configured bootstrap peers (addresses and peer ids). @default none */
  bootstrap?: Bootstrap
  /** Peers connected before (the peer memory): those not on the local segment are watched. @default none */
  remembered?: () => RememberedPeer[]
  /** Warn about a watched peer unreachable this long. @default UNREACHABLE_WARN_MS (1 min) */
  warnAfterMs?: number
  /** Check this often. @default REACHABILITY_CHECK_MS (10 s) */
  checkMs?: number
  /** Told when a watched peer has been unreachable for `warnAfterMs`, and when it is reached again. @default nothing */
  onWarning?: (message: string) => void
}

/** A watched peer found unreachable for longer than the warning delay. */
export interface Unreachable {
  kind: 'bootstrap' | 'other-segment'
  /** The bootstrap entry as given, or the peer id. */
  target: string
  /** For how long, in ms. */
  forMs: number
}

interface Target { kind: Unreachable['kind'], key: string, reached: () => boolean }

const bare = (a: string): string => a.replace(/\/p2p\/[^/]+$/, '')

/**
 * Says when the link to the rest of the neighbourhood is gone, even while local neighbours keep the peer count
 * up: every configured bootstrap peer, and every peer connected before that is not on the local segment, is
 * watched; one unreachable for a minute is warned about once (`onWarning`, and `unreachable()` for /health),
 * and once more when it is reached again.
 */
export class Reachability {
  private readonly clock: Clock
  /** Target -> since when it has been unreachable (clock ms), and whether that was warned about. */
  private readonly state = new Map<string, { since: number, warned: boolean, kind: Unreachable['kind'] }>()
  private timer: unknown
  private running = false

  constructor (private readonly components: ReachabilityComponents, private readonly options: ReachabilityOptions = {}) {
    this.clock = components.clock ?? systemClock
  }

  start (): void {
    this.running = true
    this.schedule()
  }

  stop (): void {
    this.running = false
    this.clock.clearTimeout(this.timer)
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = this.clock.setTimeout(() => {
      this.check()
      this.schedule()
    }, this.options.checkMs ?? REACHABILITY_CHECK_MS)
    // a one-off command's node must not be kept alive by it (the system clock's timers are Node's)
    ;(this.timer as { unref?: () => void } | undefined)?.unref?.()
  }

  private targets (): Target[] {
    const { libp2p } = this.components
    const connected = (id: string): boolean => libp2p.getPeers().some(p => p.toString() === id)
    const out: Target[] = []
    const b = this.options.bootstrap ?? { addrs: [], peers: [] }
    const named = new Set(b.peers)
    for (const addr of b.addrs) {
      const id = multiaddr(addr).getComponents().find(c => c.name === 'p2p')?.value
      if (id !== undefined) named.add(id)
      out.push({
        kind: 'bootstrap',
        key: addr,
        reached: () => id !== undefined ? connected(id) : libp2p.getConnections().some(c => bare(c.remoteAddr.toString()) === bare(addr))
      })
    }
    for (const id of b.peers) out.push({ kind: 'bootstrap', key: id, reached: () => connected(id) })
    for (const p of this.options.remembered?.() ?? []) {
      if (p.segment === 'other' && !named.has(p.peerId)) out.push({ kind: 'other-segment', key: p.peerId, reached: () => connected(p.peerId) })
    }
    return out
  }

  /** Look at every watched peer now (the timer does this every `checkMs`). */
  check (): void {
    const now = this.clock.now()
    const warnAfter = this.options.warnAfterMs ?? UNREACHABLE_WARN_MS
    const seen = new Set<string>()
    for (const t of this.targets()) {
      seen.add(t.key)
      const s = this.state.get(t.key)
      if (t.reached()) {
        if (s?.warned === true) this.options.onWarning?.(`${describe(t.kind)} ${t.key} is reachable again`)
        this.state.delete(t.key)
        continue
      }
      if (s === undefined) {
        this.state.set(t.key, { since: now, warned: false, kind: t.kind })
      } else if (!s.warned && now - s.since >= warnAfter) {
        s.warned = true
        this.options.onWarning?.(`${describe(t.kind)} ${t.key} has been unreachable for ${Math.round((now - s.since) / 1000)} s`)
      }
    }
    for (const key of this.state.keys()) if (!seen.has(key)) this.state.delete(key)
  }

  /** The watched peers unreachable for longer than the warning delay. */
  unreachable (): Unreachable[] {
    const now = this.clock.now()
    return [...this.state.entries()].filter(([, s]) => s.warned).map(([target, s]) => ({ kind: s.kind, target, forMs: now - s.since }))
  }

  /** The warnings for /health: counts only, never a peer id or an address (it answers without a token). */
  summary (): string[] {
    const out: string[] = []
    const list = this.unreachable()
    for (const kind of ['bootstrap', 'other-segment'] as const) {
      const n = list.filter(u => u.kind === kind).length
      if (n > 0) out.push(`${n} ${describe(kind, n)} unreachable for over ${Math.round((this.options.warnAfterMs ?? UNREACHABLE_WARN_MS) / 1000)} s`)
    }
    return out
  }
}

function describe (kind: Unreachable['kind'], n = 1): string {
  const s = n === 1 ? '' : 's'
  return kind === 'bootstrap' ? `bootstrap peer${s}` : `peer${s} of another segment connected before`
}
