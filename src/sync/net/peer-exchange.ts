import * as dagCbor from '@ipld/dag-cbor'
import type { IdentifyResult, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { isLoopback } from './addresses.js'
import {
  DEFAULT_MAX_CONNECTIONS,
  MAX_ADDRS,
  MAX_PEERS,
  MAX_PEX_BYTES,
  PEX_ASK_TIMEOUT_MS,
  PEX_INBOUND_DIAL_DELAY_MS,
  PEX_MAX_INBOUND_STREAMS,
  PEX_PROTOCOL
} from './constants.js'
import { readFrames, sendFrame } from '../exchange/framing.js'
import { ProtocolError } from '../exchange/wire.js'

export interface PexEntry { peerId: string, addrs: string[] }

export function encodePex (entries: PexEntry[]): Uint8Array {
  return dagCbor.encode({ peers: entries.slice(0, MAX_PEERS).map(e => [e.peerId, e.addrs.slice(0, MAX_ADDRS)]) })
}

/** Strict: a map with exactly `peers`, each [peer id string, [multiaddr strings]] that parse. */
export function decodePex (bytes: Uint8Array): PexEntry[] {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new ProtocolError(`malformed peer exchange: ${(err as Error).message}`)
  }
  const v = value as { peers?: unknown }
  if (v === null || typeof v !== 'object' || Object.keys(v).length !== 1 || !Array.isArray(v.peers) || v.peers.length > MAX_PEERS) throw new ProtocolError('malformed peer exchange')
  return v.peers.map((e: unknown) => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || !Array.isArray(e[1]) || e[1].length > MAX_ADDRS) throw new ProtocolError('malformed peer exchange entry')
    // multiaddr() also takes bytes and null: only strings are addresses here
    if (!e[1].every((a: unknown) => typeof a === 'string')) throw new ProtocolError('malformed peer exchange entry')
    try {
      peerIdFromString(e[0])
      for (const a of e[1]) multiaddr(a as string)
    } catch {
      throw new ProtocolError('malformed peer exchange entry')
    }
    return { peerId: e[0], addrs: e[1] as string[] }
  })
}

/** When PeerExchange runs a deferred dial: `run` after `ms`; the returned function cancels it. */
export type PexScheduler = (run: () => void, ms: number) => () => void

/** setTimeout, not holding the process open. */
const timer: PexScheduler = (run, ms) => {
  const t = setTimeout(run, ms)
  t.unref?.()
  return () => { clearTimeout(t) }
}

export interface PeerExchangeOptions {
  /** Connections past which we stop dialing peers we hear of. @default DEFAULT_MAX_CONNECTIONS */
  maxConnections?: number
  /** Runs the deferred questions and their dials (tests drive it). @default setTimeout */
  schedule?: PexScheduler
}

/**
 * Answers "whom do you know?" with the listen addresses of our other peers (loopback ones only to a peer on
 * this same host), and asks every newly identified peer the same, dialing those we did not know: at once when
 * we dialled the peer (we are joining), after a random wait when it dialled us (it is joining, and the peers it
 * dialled would all hear of each other from it at the same moment; see PEX_INBOUND_DIAL_DELAY_MS). The question
 * waits with the dials: asked at once, its answer would wait unused, and a newcomer would answer every peer it
 * dialled while it is still opening its connections.
 */
export class PeerExchange {
  private readonly maxConnections: number
  private readonly schedule: PexScheduler
  private readonly deferred = new Set<() => void>()

  constructor (
    private readonly libp2p: Pick<Libp2p,
    'handle' | 'unhandle' | 'dialProtocol' | 'dial' | 'getPeers' | 'getConnections' | 'peerStore' | 'peerId' | 'addEventListener' | 'removeEventListener'>,
    options: PeerExchangeOptions = {}
  ) {
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    this.schedule = options.schedule ?? timer
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (!evt.detail.protocols.includes(PEX_PROTOCOL)) return
    const peer = evt.detail.peerId
    if (evt.detail.connection.direction === 'outbound') {
      void this.ask(peer).catch(() => {})
      return
    }
    const cancel = this.schedule(() => {
      this.deferred.delete(cancel)
      if (this.libp2p.getConnections(peer).length > 0) void this.ask(peer).catch(() => {})
    }, PEX_INBOUND_DIAL_DELAY_MS * (1 + Math.random()))
    this.deferred.add(cancel)
  }

  async start (): Promise<void> {
    await this.libp2p.handle(PEX_PROTOCOL, async (stream: Stream, connection) => {
      const local = isLoopback(connection.remoteAddr)
      const entries: PexEntry[] = []
      for (const peer of this.libp2p.getPeers()) {
        if (peer.equals(connection.remotePeer)) continue
        const known = await this.libp2p.peerStore.get(peer).catch(() => undefined)
        const addrs = (known?.addresses ?? []).map(a => a.multiaddr.toString()).filter(a => local || !isLoopback(a))
        if (addrs.length > 0) entries.push({ peerId: peer.toString(), addrs })
      }
      try {
        await sendFrame(stream, encodePex(entries))
        await stream.close()
      } catch (err) {
        stream.abort(err as Error)
      }
    }, { maxInboundStreams: PEX_MAX_INBOUND_STREAMS })
    this.libp2p.addEventListener('peer:identify', this.onIdentify)
  }

  async stop (): Promise<void> {
    this.libp2p.removeEventListener('peer:identify', this.onIdentify)
    for (const cancel of this.deferred) cancel()
    this.deferred.clear()
    await this.libp2p.unhandle(PEX_PROTOCOL)
  }

  /** Ask one peer whom it knows and dial, one after another, the peers we are not connected to yet. */
  async ask (peer: PeerId): Promise<PexEntry[]> {
    const stream = await this.libp2p.dialProtocol(peer, PEX_PROTOCOL, { signal: AbortSignal.timeout(PEX_ASK_TIMEOUT_MS) })
    let entries: PexEntry[] = []
    try {
      for await (const frame of readFrames(stream, MAX_PEX_BYTES)) {
        entries = decodePex(frame)
        break
      }
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
    await this.dialAll(entries)
    return entries
  }

  /**
   * Dial, one after another, the peers of `entries` we are not connected to (checked just before each dial), in a
   * random order: newcomers told of the same peers in the same order would otherwise all dial the first few.
   */
  private async dialAll (entries: PexEntry[]): Promise<void> {
    for (const e of shuffled(entries)) {
      if (this.libp2p.getPeers().length >= this.maxConnections) break
      if (e.peerId === this.libp2p.peerId.toString() || this.libp2p.getConnections(peerIdFromString(e.peerId)).length > 0) continue
      await this.libp2p.dial(e.addrs.map(a => multiaddr(a.includes('/p2p/') ? a : `${a}/p2p/${e.peerId}`))).catch(() => {})
    }
  }
}

/** A copy of `items` in a random order (Fisher-Yates). */
function shuffled<T> (items: T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = out[i]!
    out[i] = out[j]!
    out[j] = t
  }
  return out
}
