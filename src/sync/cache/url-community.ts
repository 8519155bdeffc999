import * as dagCbor from '@ipld/dag-cbor'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { BadClaimError, CmeshError } from '../../errors.js'
import type { Member } from '../../policy/cache/rendezvous.js'
import {
  MAX_REMOTE_CLAIMS,
  MAX_URL_LENGTH,
  MAX_URL_MESSAGE_BYTES,
  OWNER_ASK_TIMEOUT_MS,
  STATUS_INTERVAL_MS,
  STATUS_MIN_GAP_MS,
  STATUS_MISSED_INTERVALS,
  STATUS_WELCOMES,
  URL_PROTOCOL,
  URL_TOPIC
} from './constants.js'
import { readFrames, sendFrame } from '../exchange/framing.js'
import type { Pubsub } from '../net/pubsub.js'
import { openMessage, signMessage, type MemberStatus, type UrlClaim } from './url-claims.js'
import { ProtocolError } from '../exchange/wire.js'

export interface CommunityComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getPeers' | 'peerId' | 'addEventListener' | 'removeEventListener'>
  pubsub: Pubsub
  /** The node's key (claims and status are signed with it). */
  privateKey: PrivateKey
  /**
   * A peer asks for `url`: the signed claim of what this node holds for it, fetching it first when `fetch` is set
   * (the asker sees this node as the URL's owner), and whether it downloaded it from the origin for this question
   * (the asker's ledger). Undefined when it holds nothing fresh and may not fetch.
   */
  serve: (url: string, fetch: boolean, from: string) => Promise<{ claim: Uint8Array, fetched: boolean } | undefined>
  /** This node's status: cache capacity, free capacity and its most requested URLs. */
  status: () => Omit<MemberStatus, 'peer' | 'at'>
  /** A member's status arrived (its popularity aggregates are merged by the cache). */
  onStatus: (status: MemberStatus) => void
  /** Claims for URLs this returns false for are ignored (loopback URLs, unless shared on purpose). @default all */
  accepts?: (url: string) => boolean
}

export interface CommunityOptions {
  /** How often status is gossiped. @default STATUS_INTERVAL_MS (10 s) */
  statusIntervalMs?: number
  /** How long an owner asked to fetch may take before the asker fetches itself. @default OWNER_ASK_TIMEOUT_MS */
  ownerAskTimeoutMs?: number
}

/**
 * Whether a member that knows `known` other members gossips its status soon on hearing of a new one, for a uniform
 * `draw` in [0, 1): always while it knows at most STATUS_WELCOMES, else with a chance of STATUS_WELCOMES / known,
 * so a newcomer is welcomed by about STATUS_WELCOMES members, not flooded by all.
 */
export function welcomes (known: number, draw: number): boolean {
  return draw * known < STATUS_WELCOMES
}

/**
 * The community side of the cache: signed URL claims and member status over gossipsub (URL_TOPIC), and the
 * URL_PROTOCOL question "what do you hold for this URL" / "fetch it for us" asked of a peer. Members are the
 * connected peers whose status was heard within STATUS_MISSED_INTERVALS intervals; their weight is their free
 * cache capacity.
 */
export class UrlCommunity {
  private readonly members = new Map<string, MemberStatus & { receivedAt: number }>()
  /** url -> claimant -> claim, signatures verified (content not yet: claims are hints). */
  private readonly claims = new Map<string, Map<string, UrlClaim>>()
  private claimCount = 0
  /** Peers caught claiming content the origin contradicts, or sending bytes that do not match their claim. */
  readonly distrusted = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private soon: NodeJS.Timeout | undefined
  private lastStatus = Number.NEGATIVE_INFINITY
  private readonly statusIntervalMs: number
  private readonly ownerAskTimeoutMs: number
  private readonly self: string
  /** When this node joined: while new, it gossips its status as it connects (its first peers may come late). */
  private startedAt = 0
  /** Peers that connected since this node joined (counted up to STATUS_WELCOMES + 1). */
  private connects = 0
  private readonly onConnect = (): void => {
    if (this.connects > STATUS_WELCOMES) return
    this.connects++
    if (this.connects <= STATUS_WELCOMES && Date.now() - this.startedAt < this.statusIntervalMs) this.statusSoon()
  }

  constructor (private readonly components: CommunityComponents, options: CommunityOptions = {}) {
    this.statusIntervalMs = options.statusIntervalMs ?? STATUS_INTERVAL_MS
    this.ownerAskTimeoutMs = options.ownerAskTimeoutMs ?? OWNER_ASK_TIMEOUT_MS
    this.self = components.libp2p.peerId.toString()
  }

  async start (): Promise<void> {
    const { libp2p, pubsub } = this.components
    await libp2p.handle(URL_PROTOCOL, async (stream: Stream, connection?: { remotePeer: PeerId }) => {
      await this.answer(stream, connection?.remotePeer?.toString() ?? '')
    }, { maxInboundStreams: 64 })
    pubsub.topicValidators.set(URL_TOPIC, async (peer, msg) => await this.receive(msg.data, peer.toString()))
    pubsub.subscribe(URL_TOPIC)
    libp2p.addEventListener('peer:connect', this.onConnect)
    this.timer = setInterval(() => { void this.publishStatus() }, this.statusIntervalMs)
    this.timer.unref()
    this.startedAt = Date.now()
    this.connects = 0
    this.statusSoon()
  }

  async stop (): Promise<void> {
    const { libp2p, pubsub } = this.components
    clearInterval(this.timer)
    clearTimeout(this.soon)
    libp2p.removeEventListener('peer:connect', this.onConnect)
    pubsub.unsubscribe(URL_TOPIC)
    pubsub.topicValidators.delete(URL_TOPIC)
    await libp2p.unhandle(URL_PROTOCOL)
  }

  /**
   * Gossip status shortly: this node is new, or heard of a new member, which should learn our capacity before
   * it needs an owner. Not on every connection: in a crowd, where peers connect many times a second, a status
   * per connection, flooded to and verified by every member, took a tenth of every node's CPU.
   */
  private statusSoon (): void {
    if (this.soon !== undefined) return
    const gap = Math.min(STATUS_MIN_GAP_MS, this.statusIntervalMs / 4)
    this.soon = setTimeout(() => {
      this.soon = undefined
      void this.publishStatus()
    }, Math.max(200, this.lastStatus + gap - Date.now()))
    this.soon.unref()
  }

  async publishStatus (): Promise<void> {
    this.lastStatus = Date.now()
    const signed = await signMessage(this.components.privateKey, { t: 'status', status: { peer: this.self, at: Date.now(), ...this.components.status() } })
    await this.components.pubsub.publish(URL_TOPIC, signed.bytes).catch(() => {})
  }

  /** Sign a claim for content this node holds (and has verified). */
  async signClaim (claim: Omit<UrlClaim, 'peer'>): Promise<Uint8Array> {
    return (await signMessage(this.components.privateKey, { t: 'claim', claim: { ...claim, peer: this.self } })).bytes
  }

  /** Gossip a signed claim. */
  async announce (signed: Uint8Array): Promise<void> {
    await this.components.pubsub.publish(URL_TOPIC, signed).catch(() => {})
  }

  /** A gossiped message: verified, then remembered; invalid ones cost the relaying peer gossipsub score. */
  async receive (bytes: Uint8Array, from: string): Promise<TopicValidatorResult> {
    let opened
    try {
      opened = await openMessage(bytes)
    } catch {
      return TopicValidatorResult.Reject
    }
    const m = opened.message
    if (m.t === 'status') {
      if (m.status.peer === this.self) return TopicValidatorResult.Ignore
      const held = this.members.get(m.status.peer)
      if (held !== undefined && held.at >= m.status.at) return TopicValidatorResult.Ignore
      // a new member (or one back) learns of us soon from about STATUS_WELCOMES members, of the rest within an interval
      if (held === undefined && welcomes(this.members.size, Math.random())) this.statusSoon()
      this.members.set(m.status.peer, { ...m.status, receivedAt: Date.now() })
      this.components.onStatus(m.status)
      return TopicValidatorResult.Accept
    }
    void from
    return this.remember(m.claim) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
  }

  /** Keep a verified claim as a hint; false when it is not newer than the one held from that claimant. */
  remember (claim: UrlClaim): boolean {
    if (claim.peer === this.self || this.distrusted.has(claim.peer) || this.components.accepts?.(claim.url) === false) return false
    let byPeer = this.claims.get(claim.url)
    const held = byPeer?.get(claim.peer)
    if (held !== undefined && held.fetchedAt >= claim.fetchedAt && held.cid.equals(claim.cid)) return false
    if (byPeer === undefined) {
      if (this.claimCount >= MAX_REMOTE_CLAIMS) this.dropOldest()
      byPeer = new Map()
      this.claims.set(claim.url, byPeer)
    }
    if (held === undefined) this.claimCount++
    byPeer.set(claim.peer, claim)
    return true
  }

  private dropOldest (): void {
    const first = this.claims.keys().next()
    if (first.done === true) return
    this.claimCount -= this.claims.get(first.value)!.size
    this.claims.delete(first.value)
  }

  /** Forget a claimant's claim for a URL (its content did not arrive or did not match). */
  forget (url: string, peer: string): void {
    const byPeer = this.claims.get(url)
    if (byPeer?.delete(peer) === true) this.claimCount--
    if (byPeer?.size === 0) this.claims.delete(url)
  }

  /** Never take claims from this peer again (it claimed content the origin or the bytes contradict). */
  distrust (peer: string): void {
    this.distrusted.add(peer)
    for (const url of [...this.claims.keys()]) this.forget(url, peer)
  }

  /** Claims for `url` from connected, trusted peers, freshest first. */
  claimsFor (url: string): UrlClaim[] {
    const connected = new Set(this.components.libp2p.getPeers().map(p => p.toString()))
    return [...(this.claims.get(url)?.values() ?? [])]
      .filter(c => connected.has(c.peer) && !this.distrusted.has(c.peer))
      .sort((a, b) => b.freshUntil - a.freshUntil)
  }

  /** Members eligible as owners: connected peers heard from recently, with their free capacity, and this node. */
  liveMembers (self: Member): Member[] {
    const now = Date.now()
    const connected = new Set(this.components.libp2p.getPeers().map(p => p.toString()))
    const out: Member[] = [self]
    for (const [id, s] of this.members) {
      if (now - s.receivedAt > STATUS_MISSED_INTERVALS * this.statusIntervalMs) this.members.delete(id)
      else if (connected.has(id) && !this.distrusted.has(id)) out.push({ id, weight: s.free })
    }
    return out
  }

  /** Number of other members heard from (for tests and stats). */
  memberCount (): number {
    return this.members.size
  }

  /**
   * Ask `peer` for `url`: with `fetch`, the peer (its owner) fetches it first if it must. Returns the claim,
   * signature verified and URL checked; undefined when the peer holds nothing for it.
   */
  async ask (peer: string, url: string, fetch: boolean, signal?: AbortSignal): Promise<UrlClaim | undefined> {
    return (await this.request(peer, url, fetch, signal))?.claim
  }

  /**
   * As `ask`, with what the peer says of its download: `fetched` when it went to the origin for this question
   * (false from peers that do not say).
   */
  async request (peer: string, url: string, fetch: boolean, signal?: AbortSignal): Promise<{ claim: UrlClaim, fetched: boolean } | undefined> {
    const timeout = AbortSignal.timeout(this.ownerAskTimeoutMs)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const stream = await this.components.libp2p.dialProtocol(peerIdFromString(peer), URL_PROTOCOL, { signal: combined })
    const onAbort = (): void => { stream.abort(new ProtocolError('url question timed out')) }
    combined.addEventListener('abort', onAbort, { once: true })
    try {
      await sendFrame(stream, dagCbor.encode({ url, fetch }), combined)
      let answer: unknown
      for await (const frame of readFrames(stream, MAX_URL_MESSAGE_BYTES + 1024)) {
        try {
          answer = dagCbor.decode(frame)
        } catch (err) {
          throw new ProtocolError(`malformed answer to a url question: ${(err as Error).message}`)
        }
        break
      }
      await stream.close().catch(() => {})
      const a = answer as { claim?: unknown, error?: unknown, fetched?: unknown } | undefined
      if (a === undefined || a === null || typeof a !== 'object') throw new ProtocolError('no answer to a url question')
      // the peer's code is passed on only if it looks like one of ours: a peer does not choose what our callers see
      if (typeof a.error === 'string') throw new CmeshError(/^ERR_[A-Z_]{1,40}$/.test(a.error) ? a.error : 'ERR_PEER', `${peer} could not get ${url} (${a.error.slice(0, 80)})`)
      if (a.claim === null || a.claim === undefined) return undefined
      if (!(a.claim instanceof Uint8Array)) throw new ProtocolError('claim must be bytes')
      const opened = await openMessage(a.claim)
      if (opened.message.t !== 'claim' || opened.message.claim.url !== url || opened.message.claim.peer !== peer) throw new BadClaimError(`${peer} answered with a claim that is not its own for ${url}`)
      return { claim: opened.message.claim, fetched: a.fetched === true }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      combined.removeEventListener('abort', onAbort)
    }
  }

  /**
   * Ask up to `max` connected peers at once whether they hold `url` (no fetching): for a node that has not heard
   * the community's gossip yet (a one-off `cmesh get-url`). Their claims are remembered; returns how many came.
   */
  async askAround (url: string, max: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const peers = this.components.libp2p.getPeers().slice(0, max)
    const timeout = AbortSignal.timeout(timeoutMs)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const claims = await Promise.all(peers.map(async p => await this.ask(p.toString(), url, false, combined).catch(() => undefined)))
    let n = 0
    for (const c of claims) if (c !== undefined && this.remember(c)) n++
    return n
  }

  private async answer (stream: Stream, from: string): Promise<void> {
    try {
      let q: unknown
      for await (const frame of readFrames(stream, MAX_URL_LENGTH + 256)) {
        q = dagCbor.decode(frame)
        break
      }
      const o = q as { url?: unknown, fetch?: unknown } | undefined
      if (o === undefined || o === null || typeof o !== 'object' || Object.keys(o).length !== 2 || typeof o.url !== 'string' || typeof o.fetch !== 'boolean') {
        throw new ProtocolError('url question must be { url, fetch }')
      }
      let reply: { claim: Uint8Array | null, error: string | null, fetched?: boolean }
      try {
        const served = await this.components.serve(o.url, o.fetch, from)
        // `fetched` is new in the answer: older askers read claim and error alone
        reply = served === undefined ? { claim: null, error: null } : { claim: served.claim, error: null, fetched: served.fetched }
      } catch (err) {
        reply = { claim: null, error: (err as CmeshError).code ?? 'ERR_INTERNAL' }
      }
      await sendFrame(stream, dagCbor.encode(reply))
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}
