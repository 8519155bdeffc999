import { BufferBudgetError } from '../../errors.js'
import { BUFFER_BUDGET_BYTES } from './constants.js'

/** What one stream charges to a budget: readFrames' and SendQueue's hook (BudgetAccount implements it). */
export interface FrameBudget {
  /** Charge `n` more bytes; false when refused, and the stream is then to be given up. */
  reserve: (n: number) => boolean
  /** Give back `n` bytes charged earlier. */
  release: (n: number) => void
}

export interface BufferBudgetOptions {
  /** Bytes all accounts together may hold. @default BUFFER_BUDGET_BYTES (64 MiB) */
  limit?: number
  /** A peer was reset for holding more than its share of a spent budget (after its accounts' onRevoke ran). */
  onEvict?: (peer: string, held: number) => void
}

interface PeerEntry {
  used: number
  accounts: Set<BudgetAccount>
}

/**
 * One node's budget for buffers its peers make it hold (the block protocol's partial frames, queued wants and
 * queued answers), shared by all their connections and streams. Each stream opens an account and charges bytes as
 * they come; the account is closed when the stream ends, which gives back whatever it still held.
 *
 * A reservation that fits under `limit` is granted. When it does not fit, the budget is tight: the peer holding
 * most beyond its fair share (the limit over the peers holding anything, the asking one counted with what it asks)
 * is reset, every account of it revoked at once, until the reservation fits; if that peer is the asking one, the
 * reservation is refused. There is always such a peer (the shares add up to the limit, the holdings past it), so a
 * peer that stays within its share, an honest requester with one want in flight, is never refused, while one that
 * opens many streams and leaves frames half sent is reset first. `used` never exceeds `limit`; revoked bytes are
 * counted as free at once, and their buffers are dropped as the aborted streams unwind.
 */
export class BufferBudget {
  /** Bytes all accounts together may hold; may be changed at any time (a lower limit applies from the next reservation). */
  limit: number
  /** The most `used` has ever been. */
  peak = 0
  /** Peers reset for holding more than their share of a spent budget. */
  evictions = 0
  private total = 0
  private readonly peers = new Map<string, PeerEntry>()
  private readonly onEvict: ((peer: string, held: number) => void) | undefined

  constructor (options: BufferBudgetOptions = {}) {
    this.limit = options.limit ?? BUFFER_BUDGET_BYTES
    this.onEvict = options.onEvict
  }

  /** Bytes held now, over all accounts. */
  get used (): number {
    return this.total
  }

  /** Bytes `peer` holds now, over all its accounts. */
  usage (peer: string): number {
    return this.peers.get(peer)?.used ?? 0
  }

  /** Peers with an open account (a stream being served). */
  get peerCount (): number {
    return this.peers.size
  }

  /** A peer's fair share now: the limit over the peers holding anything (with `peer` among them). */
  share (peer?: string): number {
    let holders = 0
    for (const [p, e] of this.peers) if (e.used > 0 || p === peer) holders++
    if (peer !== undefined && !this.peers.has(peer)) holders++
    return this.limit / Math.max(1, holders)
  }

  /** An account for one stream of `peer`; `onRevoke` is called (once) if the peer is reset, to abort the stream. */
  open (peer: string, onRevoke?: (err: BufferBudgetError) => void): BudgetAccount {
    let entry = this.peers.get(peer)
    if (entry === undefined) this.peers.set(peer, entry = { used: 0, accounts: new Set() })
    const account = new BudgetAccount(this, peer, onRevoke)
    entry.accounts.add(account)
    return account
  }

  /** @internal BudgetAccount.reserve (an open account's peer entry is always in the map) */
  charge (account: BudgetAccount, n: number): boolean {
    const entry = this.peers.get(account.peer)
    if (entry === undefined) return false
    while (this.total + n > this.limit) {
      const share = this.share(account.peer)
      let worst: string | undefined
      let most = share
      for (const [p, e] of this.peers) {
        const holds = e.used + (e === entry ? n : 0)
        if (holds > most) { worst = p; most = holds }
      }
      if (worst === undefined) return false // cannot happen while the shares add up to the limit
      this.evict(worst)
      // the asking peer itself was reset (or, from a callback of the reset, its account ended)
      if (worst === account.peer || this.peers.get(account.peer) !== entry || account.revoked) return false
    }
    account.held += n
    entry.used += n
    this.total += n
    if (this.total > this.peak) this.peak = this.total
    return true
  }

  /** @internal BudgetAccount.release and close */
  credit (account: BudgetAccount, n: number): void {
    const entry = this.peers.get(account.peer)
    if (entry === undefined) return
    entry.used -= n
    this.total -= n
  }

  /** @internal BudgetAccount.close */
  forget (account: BudgetAccount): void {
    const entry = this.peers.get(account.peer)
    if (entry === undefined) return
    entry.accounts.delete(account)
    if (entry.accounts.size === 0) this.peers.delete(account.peer)
  }

  /** Reset `peer`: revoke all its accounts (their bytes are free at once), then tell the streams and the owner. */
  evict (peer: string): void {
    const entry = this.peers.get(peer)
    if (entry === undefined) return
    this.peers.delete(peer)
    const held = entry.used
    this.total -= held
    entry.used = 0
    const accounts = [...entry.accounts]
    entry.accounts.clear()
    for (const a of accounts) a.revoke()
    this.evictions++
    const err = new BufferBudgetError(`peer ${peer} held ${held} bytes of block-protocol buffers, more than its share of the node's ${this.limit}`)
    for (const a of accounts) a.notify(err)
    try {
      this.onEvict?.(peer, held)
    } catch {}
  }
}

/** The bytes one stream holds in a BufferBudget. Closing it gives them all back; after that, or after a revocation, it grants nothing. */
export class BudgetAccount implements FrameBudget {
  /** Bytes this account holds now. */
  held = 0
  private state: 'open' | 'closed' | 'revoked' = 'open'

  constructor (private readonly budget: BufferBudget, readonly peer: string, private onRevoke: ((err: BufferBudgetError) => void) | undefined) {}

  /** The peer was reset (its accounts revoked). */
  get revoked (): boolean {
    return this.state === 'revoked'
  }

  reserve (n: number): boolean {
    if (this.state !== 'open') return false
    if (n <= 0) return true
    return this.budget.charge(this, n)
  }

  release (n: number): void {
    if (this.state !== 'open') return
    const k = Math.min(Math.max(0, n), this.held)
    this.held -= k
    this.budget.credit(this, k)
  }

  /** The stream ended: give back all it held. */
  close (): void {
    if (this.state === 'open') {
      this.budget.credit(this, this.held)
      this.held = 0
      this.budget.forget(this)
    }
    if (this.state !== 'revoked') this.state = 'closed'
    this.onRevoke = undefined
  }

  /** @internal BufferBudget.evict: the bytes were already taken off the totals. */
  revoke (): void {
    this.held = 0
    this.state = 'revoked'
  }

  /** @internal BufferBudget.evict */
  notify (err: BufferBudgetError): void {
    const f = this.onRevoke
    this.onRevoke = undefined
    try {
      f?.(err)
    } catch {}
  }
}
