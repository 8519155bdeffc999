import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { IdentifyResult, Libp2p, PeerId } from '@libp2p/interface'
import { createHash } from 'node:crypto'
import { basename } from 'node:path'
import type { CID } from 'multiformats/cid'
import { parseCid } from '../../dag/cid.js'
import { importPath, type ImportOptions } from '../../dag/importer.js'
import { CmeshError, CollectionNotFoundError, ResourceNotFoundError } from '../../errors.js'
import { checkAnnouncementId, openAnnouncement, signAnnouncement, type Announcement, type OpenedAnnouncement } from '../../policy/collections/announcement.js'
import { admit, headKey, liveShares, record } from '../../policy/collections/collection-rules.js'
import { collectionTopic, parseGovernance, retentionMs, type Governance, type Purpose } from '../../policy/collections/governance.js'
import type { PublisherKey } from '../../policy/trust/keys.js'
import { CollectionFiles, type StoredCollection } from './collection-file.js'
import type { Blockstore } from '../../store/interface.js'
import { CollectionHeads, COLLECTION_HEADS_PROTOCOL, type HeadEntry } from './collection-heads.js'
import { CollectionSync, type Downloads, type SyncEvent } from './collection-sync.js'
import { browseShares, type BrowseEntry, type BrowseQuery } from './browse.js'

export type { BrowseEntry, BrowseQuery } from './browse.js'
import { ANTI_ENTROPY_INTERVAL_MS, COLLECTION_FETCH_TIMEOUT_MS, COLLECTION_PIN, COLLECTION_RETRY_MS, COLLECTION_SWEEP_MS } from './constants.js'
import { collectionTopicScore, type Pubsub } from '../net/pubsub.js'

export interface CollectionsOptions {
  /** Ask every peer for the heads of the joined collections this often (besides on connect). @default 30 s */
  antiEntropyIntervalMs?: number
  /** Give one resource's download up after this long. @default 10 min */
  fetchTimeoutMs?: number
  /** Try a failed download again after this long, doubling on each failure (or when a peer connects). @default 2 s */
  retryMs?: number
  /** Sweep expired announcements this often. @default 60 s */
  sweepMs?: number
}

export interface CollectionsComponents {
  repo: string
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getPeers' | 'addEventListener' | 'removeEventListener'>
  pubsub: Pubsub
  /** Where shared files are imported and resources pinned. */
  store: Blockstore
  /** Swarm-downloads and pins the resources auto-sync wants. */
  downloads: Downloads
}

export interface JoinOptions {
  /** Storage budget for the collection's resources, in bytes. @default unlimited */
  budget?: number
}

export interface ShareOptions {
  collection: string
  key: PublisherKey
  title: string
  purpose: Purpose
  tags?: string[]
  /** The resource's id among the publisher's; sharing again under it is an update. @default from the path's name */
  id?: string
  lang?: string
  license?: string
  /** Ms since the epoch. @default now + the collection's retention */
  expires?: number
  import?: ImportOptions
}

export interface RetractOptions {
  collection: string
  key: PublisherKey
  id: string
  /** Publisher of the resource: another's needs a moderator key. @default the key's own */
  publisher?: string
}

export interface CollectionInfo {
  name: string
  topic: string
  budget: number | null
  resources: number
  synced: number
  /** Bytes of this collection's resources held here. */
  bytes: number
  announcements: number
  /** Peers subscribed to the topic. */
  peers: number
}

export interface PublishedAnnouncement {
  collection: string
  id: string
  seq: number
  /** sha-256 of the signed envelope. */
  hash: string
  root?: string
  size?: number
  /** Peers the gossip message went to (0 when none is subscribed yet: anti-entropy brings it to them later). */
  recipients: number
}

export type CollectionEvent =
  | { type: 'accepted', collection: string, announcement: Announcement, from: string, via: 'gossip' | 'anti-entropy' | 'local' }
  | { type: 'rejected', collection: string, code: string, message: string, from: string, via: 'gossip' | 'anti-entropy' }
  | SyncEvent

export interface CollectionStats {
  accepted: number
  duplicates: number
  /** Rejections by error code (ERR_BAD_SIGNATURE, ERR_UNAUTHORIZED, ERR_QUOTA, ...). */
  rejected: Record<string, number>
}

type Via = 'gossip' | 'anti-entropy'

/**
 * Community collections on a node: join (subscribe to the topic, validate every announcement before gossipsub
 * relays it), share, retract, browse, auto-sync, and anti-entropy with every peer on connect. State lives in
 * `<repo>/collections/<name>.json`.
 */
export class Collections {
  private readonly files: CollectionFiles
  private readonly byName = new Map<string, StoredCollection>()
  private readonly byTopic = new Map<string, StoredCollection>()
  private readonly counters = new Map<string, CollectionStats>()
  private readonly listeners = new Set<(e: CollectionEvent) => void>()
  private readonly heads: CollectionHeads
  private readonly sync: CollectionSync
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private started = false
  /** Inside an anti-entropy answer: auto-sync waits for the whole batch, so priorities hold across it. */
  private batching = 0

  constructor (private readonly components: CollectionsComponents, private readonly init: CollectionsOptions = {}) {
    this.files = new CollectionFiles(components.repo)
    this.heads = new CollectionHeads(components.libp2p, topics => this.headsFor(topics))
    this.sync = new CollectionSync({
      store: components.store,
      downloads: components.downloads,
      collections: () => [...this.byName.values()],
      save: c => { this.files.save(c) },
      onEvent: e => { this.emit(e) }
    }, init.fetchTimeoutMs ?? COLLECTION_FETCH_TIMEOUT_MS, init.retryMs ?? COLLECTION_RETRY_MS)
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(COLLECTION_HEADS_PROTOCOL)) void this.pull(evt.detail.peerId).catch(() => {})
  }

  private readonly onConnect = (): void => {
    this.sync.retryFailed()
    void this.sync.kick().catch(() => {})
  }

  /** Join the collections saved in the repository, answer anti-entropy, and start auto-sync. */
  async start (): Promise<void> {
    for (const name of this.files.names()) {
      const c = this.files.load(name)
      if (c !== undefined) this.attach(c)
    }
    // the collections' pins from before pins had owners read as the user's: claim them
    for (const c of this.byName.values()) for (const root of c.pinned) await this.components.store.adoptLegacyPin(parseCid(root), COLLECTION_PIN)
    await this.heads.start()
    this.components.libp2p.addEventListener('peer:identify', this.onIdentify)
    this.components.libp2p.addEventListener('peer:connect', this.onConnect)
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const t = setInterval(() => { void fn().catch(() => {}) }, ms)
      t.unref()
      this.timers.push(t)
    }
    every(this.init.antiEntropyIntervalMs ?? ANTI_ENTROPY_INTERVAL_MS, async () => await this.antiEntropy())
    every(this.init.sweepMs ?? COLLECTION_SWEEP_MS, async () => await this.sync.kick())
    this.started = true
    void this.sync.kick().catch(() => {})
  }

  async stop (): Promise<void> {
    this.started = false
    for (const t of this.timers) clearInterval(t)
    this.components.libp2p.removeEventListener('peer:identify', this.onIdentify)
    this.components.libp2p.removeEventListener('peer:connect', this.onConnect)
    await this.sync.stop()
    await this.heads.stop()
    for (const c of this.byName.values()) this.detach(c)
  }

  /** Roots of the resources of these purposes in the joined collections (priority classes with `purposes`). */
  purposeRoots (purposes: Purpose[]): CID[] {
    const out: CID[] = []
    for (const c of this.list()) {
      for (const e of this.browse(c.name)) if (purposes.includes(e.purpose)) out.push(parseCid(e.root))
    }
    return out
  }

  /** Whether a joined collection holds (pins) this root: the community cache never evicts such content. */
  holds (root: string): boolean {
    for (const c of this.byName.values()) if (c.pinned.has(root)) return true
    return false
  }

  /** Listen to what happens in the collections; returns a function that stops listening. */
  on (listener: (e: CollectionEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private emit (e: CollectionEvent): void {
    for (const l of this.listeners) l(e)
  }

  private attach (c: StoredCollection): void {
    const { pubsub } = this.components
    this.byName.set(c.governance.name, c)
    this.byTopic.set(c.topic, c)
    if (pubsub.score !== undefined) pubsub.score.params.topics[c.topic] = collectionTopicScore()
    pubsub.topicValidators.set(c.topic, (peer, msg) => {
      const r = this.receive(c.topic, msg.data, peer.toString(), 'gossip')
      return r === 'accepted' ? TopicValidatorResult.Accept : r === 'rejected' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    })
    pubsub.subscribe(c.topic)
  }

  private detach (c: StoredCollection): void {
    const { pubsub } = this.components
    pubsub.unsubscribe(c.topic)
    pubsub.topicValidators.delete(c.topic)
    this.byName.delete(c.governance.name)
    this.byTopic.delete(c.topic)
  }

  /**
   * Join a collection from its governance document (or update the budget of one joined). A changed document
   * is a different collection: the announcements held under the old one are dropped.
   */
  async join (document: unknown, options: JoinOptions = {}): Promise<CollectionInfo> {
    const governance: Governance = parseGovernance(document)
    const topic = collectionTopic(governance)
    const held = this.byName.get(governance.name)
    let c: StoredCollection
    if (held !== undefined && held.topic === topic) {
      c = held
      if (options.budget !== undefined) c.budget = options.budget
    } else {
      if (held !== undefined) this.detach(held)
      c = { governance, topic, budget: options.budget ?? Infinity, heads: new Map(), log: new Map(), pinned: held?.pinned ?? new Set() }
      this.attach(c)
    }
    this.files.save(c)
    if (this.started) {
      void this.antiEntropy().catch(() => {})
      void this.sync.kick().catch(() => {})
    }
    return this.info(c)
  }

  /** Leave a collection: unsubscribe and forget it (its resources are unpinned by the next auto-sync pass). */
  async leave (name: string): Promise<void> {
    const c = this.get(name)
    this.detach(c)
    this.files.remove(name)
    for (const root of c.pinned) if (!this.holds(root)) await this.components.store.unpin(parseCid(root), COLLECTION_PIN)
  }

  private get (name: string): StoredCollection {
    const c = this.byName.get(name)
    if (c === undefined) throw new CollectionNotFoundError(name)
    return c
  }

  private info (c: StoredCollection): CollectionInfo {
    const live = liveShares(c)
    const synced = live.filter(a => this.sync.status(c, a) === 'synced')
    return {
      name: c.governance.name,
      topic: c.topic,
      budget: Number.isFinite(c.budget) ? c.budget : null,
      resources: live.length,
      synced: synced.length,
      bytes: synced.reduce((s, a) => s + a.resource!.size, 0),
      announcements: c.heads.size,
      peers: this.components.pubsub.getSubscribers(c.topic).length
    }
  }

  list (): CollectionInfo[] {
    return [...this.byName.values()].map(c => this.info(c)).sort((a, b) => a.name.localeCompare(b.name))
  }

  governance (name: string): Governance {
    return this.get(name).governance
  }

  stats (name: string): CollectionStats {
    const s = this.counters.get(this.get(name).topic)
    return s === undefined ? { accepted: 0, duplicates: 0, rejected: {} } : { ...s, rejected: { ...s.rejected } }
  }

  /** The gossipsub score this node gives a peer (undefined when scoring cannot be read). */
  peerScore (peer: string): number | undefined {
    return this.components.pubsub.getScore?.(peer)
  }

  /**
   * Validate an announcement that arrived for `topic` and record it if it passes: the one path for gossip
   * messages and anti-entropy answers. 'rejected' means invalid (the sender is penalised), 'ignored' not ours.
   */
  receive (topic: string, bytes: Uint8Array, from: string, via: Via): 'accepted' | 'duplicate' | 'rejected' | 'ignored' {
    const c = this.byTopic.get(topic)
    if (c === undefined) return 'ignored'
    const stats = this.counters.get(topic) ?? { accepted: 0, duplicates: 0, rejected: {} }
    this.counters.set(topic, stats)
    let opened: OpenedAnnouncement
    try {
      opened = openAnnouncement(bytes)
      if (admit(c, opened) === 'duplicate') {
        stats.duplicates++
        return 'duplicate'
      }
    } catch (err) {
      const code = (err as CmeshError).code ?? 'ERR_INTERNAL'
      stats.rejected[code] = (stats.rejected[code] ?? 0) + 1
      this.emit({ type: 'rejected', collection: c.governance.name, code, message: (err as Error).message, from, via })
      return 'rejected'
    }
    record(c, opened)
    this.files.save(c)
    stats.accepted++
    this.emit({ type: 'accepted', collection: c.governance.name, announcement: opened.announcement, from, via })
    if (this.started && this.batching === 0) void this.sync.kick().catch(() => {})
    return 'accepted'
  }

  private headsFor (topics: string[]): HeadEntry[] {
    const out: HeadEntry[] = []
    for (const t of topics) {
      const c = this.byTopic.get(t)
      if (c !== undefined) for (const h of c.heads.values()) out.push({ topic: t, announcement: h.bytes })
    }
    return out
  }

  /**
   * Anti-entropy with one peer: ask for its heads in the collections joined here, validate each as gossip,
   * and gossip the ones that were new here, so neighbours connected to us before learn them too.
   */
  async pull (peer: PeerId, signal?: AbortSignal): Promise<number> {
    const topics = [...this.byTopic.keys()]
    if (topics.length === 0) return 0
    const entries = await this.heads.ask(peer, topics, signal)
    const fresh: typeof entries = []
    this.batching++
    try {
      for (const e of entries) if (this.receive(e.topic, e.announcement, peer.toString(), 'anti-entropy') === 'accepted') fresh.push(e)
    } finally {
      this.batching--
    }
    if (fresh.length > 0 && this.started) void this.sync.kick().catch(() => {})
    for (const e of fresh) await this.components.pubsub.publish(e.topic, e.announcement).catch(() => {})
    return fresh.length
  }

  /** Anti-entropy with every connected peer; returns the announcements that were new here. */
  async antiEntropy (signal?: AbortSignal): Promise<number> {
    const counts = await Promise.all(this.components.libp2p.getPeers().map(async p => await this.pull(p, signal).catch(() => 0)))
    return counts.reduce((a, b) => a + b, 0)
  }

  /** Run auto-sync now; resolves when a pass that started after the call has ended. */
  async syncNow (): Promise<void> {
    await this.sync.kick()
  }

  private async announce (c: StoredCollection, a: Announcement, key: PublisherKey): Promise<PublishedAnnouncement> {
    const opened = signAnnouncement(a, key)
    admit(c, opened) // the rules the neighbours will apply: a share over quota fails here, not silently there
    record(c, opened)
    if (a.resource !== null) c.pinned.add(a.resource.root.toString())
    this.files.save(c)
    this.emit({ type: 'accepted', collection: c.governance.name, announcement: opened.announcement, from: 'self', via: 'local' })
    const sent = await this.components.pubsub.publish(c.topic, opened.bytes).catch(() => ({ recipients: [] }))
    if (this.started) void this.sync.kick().catch(() => {})
    return {
      collection: c.governance.name,
      id: a.id,
      seq: a.seq,
      hash: opened.hash,
      root: a.resource?.root.toString(),
      size: a.resource?.size,
      recipients: sent.recipients.length
    }
  }

  /** Import `path` and designate it in a collection with a signed announcement (an update if its id is held). */
  async share (path: string, options: ShareOptions): Promise<PublishedAnnouncement> {
    const c = this.get(options.collection)
    const id = checkAnnouncementId(options.id ?? slug(basename(path)))
    // pinned for the collections: their retraction or expiry unpins it here as everywhere else
    const imported = await importPath(this.components.store, path, { ...options.import, pinOwner: COLLECTION_PIN })
    const held = c.heads.get(headKey(options.key.publicKey, id))
    const now = Date.now()
    const root = imported.cid.toString()
    const pinnedBefore = this.holds(root)
    return await this.announce(c, {
      collection: c.topic,
      publisher: options.key.publicKey,
      seq: (held?.announcement.seq ?? 0) + 1,
      id,
      kind: 'share',
      resource: {
        root: imported.cid,
        size: imported.size,
        title: options.title,
        purpose: options.purpose,
        tags: [...new Set(options.tags ?? [])],
        lang: options.lang ?? null,
        license: options.license ?? null
      },
      target: null,
      created: now,
      expires: options.expires ?? now + retentionMs(c.governance)
    }, options.key).catch(async (err: unknown) => {
      // refused (over quota, say): the pin taken for it goes, unless a collection already held the root
      if (!pinnedBefore && !this.holds(root)) await this.components.store.unpin(imported.cid, COLLECTION_PIN)
      throw err
    })
  }

  /** Retract a resource: one's own, or (with a moderator key) another publisher's. */
  async retract (options: RetractOptions): Promise<PublishedAnnouncement> {
    const c = this.get(options.collection)
    const publisher = options.publisher ?? options.key.publicKey
    const target = c.heads.get(headKey(publisher, options.id))
    if (target === undefined || target.announcement.kind !== 'share') throw new ResourceNotFoundError(c.governance.name, options.id)
    const own = publisher === options.key.publicKey
    // a moderator's retraction is a resource of its own, named after what it retracts
    const id = own ? options.id : `retract-${createHash('sha256').update(headKey(publisher, options.id)).digest('hex').slice(0, 16)}`
    const held = c.heads.get(headKey(options.key.publicKey, id))
    const now = Date.now()
    return await this.announce(c, {
      collection: c.topic,
      publisher: options.key.publicKey,
      seq: (held?.announcement.seq ?? 0) + 1,
      id,
      kind: 'retract',
      resource: null,
      target: { publisher, id: options.id, seq: target.announcement.seq },
      created: now,
      expires: now + retentionMs(c.governance)
    }, options.key)
  }

  /** Resources in force in a collection that match the query, highest priority first, then newest. */
  browse (name: string, query: BrowseQuery = {}): BrowseEntry[] {
    const c = this.get(name)
    return browseShares(name, c, query, a => this.sync.status(c, a))
  }
}

/** A resource id from a file name: lower case, runs of other characters as '-'. */
export function slug (name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64)
  return s === '' ? 'resource' : s
}
