import { readJsonFile, writeJsonFile } from '../../store/json-file.js'
import { LEDGER_FLUSH_MS, LEDGER_MAX_PEERS, RECIPROCATION_WINDOW_MS } from './constants.js'
import { repoPath } from '../../repo/index.js'

/** What this node and one peer have given each other. */
export interface LedgerEntry {
  /** Block bytes we sent the peer (answers it took from us). */
  sent: number
  /** Block bytes the peer sent us that verified against their CIDs. */
  received: number
  /** When we first and last exchanged blocks with it (ms since the epoch). */
  firstSeen: number
  lastSeen: number
}

export interface LedgerRow extends LedgerEntry {
  peer: string
  /** sent / received: above 1, we gave it more than it gave us. null while it gave us nothing. */
  ratio: number | null
  /** Verified bytes a second it sent us lately (about the last 20 s): what unchoking ranks. */
  recentReceiveRate: number
}

/**
 * A ledger per peer of block bytes sent and verified bytes received (BitTorrent's and Bitswap's ledgers), kept
 * in `<repo>/ledger.json` (written at most every 10 s while it changes, and on close) so reciprocation outlives a
 * restart. Also a decayed rate of what each peer sent us lately, for unchoking.
 */
export class Ledger {
  private readonly entries = new Map<string, LedgerEntry>()
  private readonly recent = new Map<string, { rate: number, at: number }>()
  private readonly file: string | undefined
  private dirty = false
  private timer: ReturnType<typeof setTimeout> | undefined

  /** `repo` undefined: in memory only. */
  constructor (repo?: string, private readonly now: () => number = Date.now) {
    this.file = repo === undefined ? undefined : repoPath(repo, 'ledger')
    if (this.file !== undefined) {
      const saved = readJsonFile<{ peers?: Record<string, Partial<LedgerEntry>> }>(this.file, {})
      for (const [peer, e] of Object.entries(saved.peers ?? {})) {
        const n = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0
        this.entries.set(peer, { sent: n(e.sent), received: n(e.received), firstSeen: n(e.firstSeen), lastSeen: n(e.lastSeen) })
      }
    }
  }

  private entry (peer: string): LedgerEntry {
    let e = this.entries.get(peer)
    if (e === undefined) {
      const t = this.now()
      if (this.entries.size >= LEDGER_MAX_PEERS) this.dropOldest()
      this.entries.set(peer, e = { sent: 0, received: 0, firstSeen: t, lastSeen: t })
    }
    return e
  }

  private dropOldest (): void {
    let oldest: string | undefined
    let at = Number.POSITIVE_INFINITY
    for (const [p, e] of this.entries) if (e.lastSeen < at) { at = e.lastSeen; oldest = p }
    if (oldest !== undefined) this.entries.delete(oldest)
  }

  get (peer: string): LedgerEntry | undefined {
    return this.entries.get(peer)
  }

  addSent (peer: string, bytes: number): void {
    const e = this.entry(peer)
    e.sent += bytes
    e.lastSeen = this.now()
    this.changed()
  }

  addReceived (peer: string, bytes: number): void {
    const e = this.entry(peer)
    e.received += bytes
    e.lastSeen = this.now()
    const r = this.recentRate(peer)
    this.recent.set(peer, { rate: r + bytes / (RECIPROCATION_WINDOW_MS / 1000), at: this.now() })
    this.changed()
  }

  /** Verified bytes a second the peer sent us lately, decayed with a 20 s time constant. */
  recentRate (peer: string): number {
    const r = this.recent.get(peer)
    if (r === undefined) return 0
    return r.rate * Math.exp(-(this.now() - r.at) / RECIPROCATION_WINDOW_MS)
  }

  rows (): LedgerRow[] {
    return [...this.entries].map(([peer, e]) => ({
      peer,
      ...e,
      ratio: e.received === 0 ? null : e.sent / e.received,
      recentReceiveRate: this.recentRate(peer)
    }))
      .sort((a, b) => (b.sent + b.received) - (a.sent + a.received))
  }

  private changed (): void {
    this.dirty = true
    if (this.file === undefined || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush()
    }, LEDGER_FLUSH_MS)
    this.timer.unref()
  }

  /** Write the file now if anything changed. */
  flush (): void {
    if (this.file === undefined || !this.dirty) return
    this.dirty = false
    writeJsonFile(this.file, { version: 1, peers: Object.fromEntries(this.entries) })
  }

  close (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.flush()
  }
}

/** The ledger file of a repository, read without starting a node (`cmesh stats` with no daemon). */
export function readLedger (repo: string): LedgerRow[] {
  return new Ledger(repo).rows()
}
