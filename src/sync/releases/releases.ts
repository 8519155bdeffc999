import { CID } from 'multiformats/cid'
import { walkDag } from '../../dag/car.js'
import { CODEC_RAW } from '../../dag/constants.js'
import { stat } from '../../dag/exporter.js'
import { importPath, type ImportOptions } from '../../dag/importer.js'
import { chunkLocations } from '../../dag/locations.js'
import { CmeshError, InvalidManifestError, MirrorError, MixAndMatchError, ReleaseNotFoundError, RollbackError, TooLargeError } from '../../errors.js'
import type { PublisherKey } from '../../policy/trust/keys.js'
import { MAX_BUNDLE_BYTES } from '../../policy/trust/constants.js'
import {
  encodeBundle,
  openBundle,
  signManifest,
  type Dependency,
  type Mirror,
  type OpenedRelease,
  type ReleaseManifest
} from '../../policy/trust/release-manifest.js'
import { checkRelease, type TrustStore } from '../../policy/trust/trust.js'
import type { Blockstore } from '../../store/interface.js'
import { readCapped } from '../../store/read-capped.js'
import type { InstalledRelease, ReleaseIndex } from '../../store/release-index.js'
import { fetchDag, type BlockSource, type FetchProgressEvent } from '../fetch/fetcher.js'
import { gatewaySource } from '../fetch/gateway-source.js'
import { rangeMirrorSource } from '../fetch/range-mirror.js'
import type { DeltaService } from '../delta/index.js'
import type { PeerSources } from '../fetch/fetch-interface.js'
import { BUNDLE_FETCH_TIMEOUT_MS, DEFAULT_RELEASE_LIFETIME_MS } from './constants.js'
import type { BundleSource } from './release-exchange.js'

export interface PublishOptions {
  name: string
  version: string
  key: PublisherKey
  /** @default one more than the sequence of the release of this name held here, else 1 */
  seq?: number
  mirrors?: Mirror[]
  /** `name@version` of releases installed in this repository. @default [] */
  deps?: string[]
  /** How long the manifest stays valid, in ms. @default 90 days */
  lifetimeMs?: number
  /** Chunking and hash of the import. */
  import?: Omit<ImportOptions, 'signal' | 'onProgress'>
  signal?: AbortSignal
}

export interface PublishResult {
  release: CID
  manifest: ReleaseManifest
  /** The bundle to hand to mirrors (`<name>.cmesh` next to the files) or to clients directly. */
  bundle: Uint8Array
}

export type UpdateProgressEvent =
  | { type: 'update:release', name: string, version: string, seq: number, size: number }
  | FetchProgressEvent

export interface UpdateOptions {
  /** A bundle from elsewhere (a file, a URL) instead of asking peers. */
  bundle?: Uint8Array
  /** Also fetch the dependency closure (deduplicated: blocks already held are not fetched again). @default false */
  withDeps?: boolean
  signal?: AbortSignal
  onProgress?: (event: UpdateProgressEvent) => void
  /** The clock, for tests of expiry. @default Date.now() */
  now?: number
  /** Fetch blocks from connected peers. @default true */
  usePeers?: boolean
  /** Fetch blocks from the manifest's mirrors. @default true */
  useMirrors?: boolean
}

export interface UpdateResult {
  name: string
  version: string
  seq: number
  release: string
  root: string
  /** Content bytes of the release. */
  size: number
  /** Nothing newer than what is installed was offered. */
  upToDate: boolean
  /**
   * Bytes received on the wire from peers and mirrors (compressed, with framing), the release bundles included:
   * what the update cost the network.
   */
  wireBytes: number
  /** Of wireBytes, those of release bundles (signed manifests and DAG interiors) received. */
  bundleBytes: number
  /** Bytes of the blocks fetched and stored (those held before were not fetched). */
  fetchedBytes: number
  /** Wire bytes per source. */
  sources: Record<string, number>
  deps: Array<{ name: string, version: string, root: string, wireBytes: number }>
  seconds: number
}

export interface ReleaseComponents {
  store: Blockstore
  trust: TrustStore
  index: ReleaseIndex
  /** Where bundles come from: the release exchange asks connected peers. @default none (a bundle must be given) */
  bundles?: BundleSource
  /** The connected peers blocks are fetched from. @default none (mirrors only) */
  peers?: PeerSources
  /** Block deltas against the installed version's blocks when updating it (src/sync/delta). @default none: blocks only */
  deltas?: Pick<DeltaService, 'base'>
}

/** Totals of a complete DAG in the store, and its interior blocks (what a bundle carries). */
async function dagTotals (store: Pick<Blockstore, 'getSync'>, root: CID, signal?: AbortSignal): Promise<{
  blocks: number,
  bytes: number,
  interior: Array<{ cid: CID, bytes: Uint8Array }>
}> {
  let blocks = 0
  let bytes = 0
  const interior: Array<{ cid: CID, bytes: Uint8Array }> = []
  for await (const b of walkDag(store, root, signal)) {
    blocks++
    bytes += b.bytes.length
    if (b.cid.code !== CODEC_RAW || b.cid.equals(root)) interior.push(b)
  }
  return { blocks, bytes, interior }
}

/**
 * Publishing and installing signed releases. Installing checks, in order: the signature, that the signer is
 * trusted for the name, expiry, that the sequence is newer than the one held (rollback); then fetches only the
 * blocks not held, from peers and the manifest's mirrors at once, refusing a DAG larger than declared; then
 * checks the result matches the manifest (root size, block count and bytes, dependency roots). Only then is
 * anything pinned and recorded: a refused release installs nothing.
 */
export class Releases {
  constructor (private readonly c: ReleaseComponents) {}

  /** Claim the installed releases' pins from before pins had owners (they read as the user's). */
  async start (): Promise<void> {
    for (const r of this.c.index.list()) await this.c.store.adoptLegacyPin(parseRoot(r.root), releasePin(r.name))
  }

  installed (): InstalledRelease[] {
    return this.c.index.list()
  }

  async publish (path: string, options: PublishOptions): Promise<PublishResult> {
    const { store, index } = this.c
    const held = index.get(options.name)
    // clients refuse a sequence not above the one they hold: publishing one would only strand them
    if (options.seq !== undefined && held !== undefined && options.seq <= held.seq) throw new RollbackError(options.name, options.seq, held.seq)
    const imported = await importPath(store, path, { ...options.import, signal: options.signal, pinOwner: releasePin(options.name) })
    try {
      const hash = options.import?.hash ?? 'blake3'
      const deps: Dependency[] = (options.deps ?? []).map(spec => {
        const at = spec.lastIndexOf('@')
        const name = at > 0 ? spec.slice(0, at) : ''
        const version = spec.slice(at + 1)
        const dep = index.get(name)
        if (at <= 0 || dep === undefined || dep.version !== version) {
          throw new InvalidManifestError(`dependency ${spec} is not installed here (install it first, or give name@version of an installed release)`)
        }
        return { name, version, root: parseRoot(dep.root) }
      })
      const totals = await dagTotals(store, imported.cid, options.signal)
      const created = Date.now()
      const manifest: ReleaseManifest = {
        name: options.name,
        version: options.version,
        seq: options.seq ?? (held?.seq ?? 0) + 1,
        root: imported.cid,
        size: (await stat(store, imported.cid)).size,
        dagBytes: totals.bytes,
        blocks: totals.blocks,
        hash: hash === 'sha2-256' ? 'sha2-256' : 'blake3',
        prev: held === undefined ? null : parseRoot(held.release),
        mirrors: options.mirrors ?? [],
        deps,
        created,
        expires: created + (options.lifetimeMs ?? DEFAULT_RELEASE_LIFETIME_MS)
      }
      const signed = await signManifest(manifest, options.key)
      const bundle = encodeBundle(signed.bytes, totals.interior)
      await this.record({ cid: signed.cid, manifest, signer: options.key.publicKey }, bundle, held)
      return { release: signed.cid, manifest, bundle }
    } catch (err) {
      // nothing published: the pin the import took goes (unless it is the installed version's root)
      if (held?.root !== imported.cid.toString()) await store.unpin(imported.cid, releasePin(options.name))
      throw err
    }
  }

  private async record (
    r: Pick<OpenedRelease,
    'cid' | 'manifest' | 'signer'>,
    bundle: Uint8Array,
    held: InstalledRelease | undefined,
    deps: CID[] = []
  ): Promise<void> {
    const { store, index } = this.c
    const owner = releasePin(r.manifest.name)
    await store.pin(r.manifest.root, owner)
    for (const d of deps) await store.pin(d, owner)
    await index.record({
      name: r.manifest.name,
      version: r.manifest.version,
      seq: r.manifest.seq,
      release: r.cid.toString(),
      root: r.manifest.root.toString(),
      size: r.manifest.size,
      signer: r.signer,
      expires: r.manifest.expires,
      installed: Date.now()
    }, bundle)
    // the old version's blocks stay until GC; those the new one shares stay pinned through it
    if (held !== undefined && held.root !== r.manifest.root.toString()) await store.unpin(parseRoot(held.root), owner)
  }

  /** Open a bundle and run every check that needs no data: signature, trust, expiry, rollback. */
  async check (bundle: Uint8Array, name: string, now = Date.now()): Promise<OpenedRelease> {
    const opened = await openBundle(bundle)
    if (opened.manifest.name !== name) throw new MixAndMatchError(`asked for ${name} but was given a release of ${opened.manifest.name}`)
    checkRelease(this.c.trust, opened.manifest, opened.signer, this.c.index.get(name), now)
    return opened
  }

  /**
   * Install the newest trusted release of `name` offered by peers (or given as `options.bundle`), fetching only
   * what is not held. Works from any earlier version: what is shared is simply not fetched.
   */
  async update (name: string, options: UpdateOptions = {}): Promise<UpdateResult> {
    const started = performance.now()
    const now = options.now ?? Date.now()
    const held = this.c.index.get(name)
    // peers are asked for envelopes alone: the DAG then comes block by block, only what is missing
    const candidates = options.bundle !== undefined
      ? [{ peer: 'given', bundle: options.bundle }]
      : await this.c.bundles?.offers(name, { blocks: false, have: null }, options.signal) ?? []
    const offered = options.bundle === undefined ? candidates.reduce((n, c) => n + c.bundle.length, 0) : 0
    if (candidates.length === 0) throw new ReleaseNotFoundError(name, options.bundle === undefined ? 'no connected peer offers one' : 'no bundle given')
    let best: OpenedRelease | undefined
    let bestBundle: Uint8Array | undefined
    let bestPeer = ''
    let firstError: Error | undefined
    let sameAsHeld = false
    for (const c of candidates) {
      try {
        const opened = await this.check(c.bundle, name, now)
        if (best === undefined || opened.manifest.seq > best.manifest.seq) { best = opened; bestBundle = c.bundle; bestPeer = c.peer }
      } catch (err) {
        // the release we already hold, offered again, is no attack: we are up to date
        if (held !== undefined && (err as { code?: string }).code === 'ERR_ROLLBACK') {
          const o = await openBundle(c.bundle).catch(() => undefined)
          if (o?.cid.toString() === held.release) { sameAsHeld = true; continue }
        }
        firstError ??= err as Error
      }
    }
    if (best === undefined || bestBundle === undefined) {
      if (sameAsHeld && held !== undefined) {
        return {
          name,
          version: held.version,
          seq: held.seq,
          release: held.release,
          root: held.root,
          size: held.size,
          upToDate: true,
          wireBytes: offered,
          bundleBytes: offered,
          fetchedBytes: 0,
          sources: {},
          deps: [],
          seconds: (performance.now() - started) / 1000
        }
      }
      throw firstError ?? new ReleaseNotFoundError(name, 'nothing was offered')
    }
    const m = best.manifest
    options.onProgress?.({ type: 'update:release', name, version: m.version, seq: m.seq, size: m.size })
    const result: UpdateResult = {
      name,
      version: m.version,
      seq: m.seq,
      release: best.cid.toString(),
      root: m.root.toString(),
      size: m.size,
      upToDate: false,
      wireBytes: offered,
      bundleBytes: offered,
      fetchedBytes: 0,
      sources: {},
      deps: [],
      seconds: 0
    }
    // plain web mirrors need the DAG's interior to locate chunks: ask the peer for it, less what we hold
    if (options.bundle === undefined && options.useMirrors !== false && m.mirrors.some(x => x.type === 'files') && this.c.bundles !== undefined) {
      const full = await this.c.bundles.ask(
        bestPeer,
        name,
        { blocks: true, have: held === undefined ? null : CID.parse(held.release) },
        options.signal
      ).catch(() => undefined)
      if (full !== undefined) {
        result.wireBytes += full.length
        result.bundleBytes += full.length
        const opened = await openBundle(full).catch(() => undefined)
        if (opened?.cid.equals(best.cid) === true) best = opened
      }
    }

    await this.fetchRelease(best, result, options, held?.root)
    if (options.withDeps === true) {
      const seen = new Set<string>([m.root.toString()])
      const queue = [...m.deps]
      while (queue.length > 0) {
        const dep = queue.shift()!
        if (seen.has(dep.root.toString())) continue
        seen.add(dep.root.toString())
        const more = await this.fetchDependency(dep, result, options, now)
        queue.push(...more)
      }
    }
    await this.record(best, bestBundle, held, result.deps.map(d => CID.parse(d.root)))
    result.seconds = (performance.now() - started) / 1000
    return result
  }

  /** Store the bundle's interior blocks, then fetch the rest from peers and mirrors within the declared size. */
  private async fetchRelease (r: OpenedRelease, result: UpdateResult, options: UpdateOptions, heldRoot?: string): Promise<void> {
    const { store, deltas } = this.c
    const m = r.manifest
    await store.putMany(r.blocks)
    const sources = [
      ...options.usePeers === false ? [] : await this.c.peers?.sources() ?? [],
      ...options.useMirrors === false ? [] : await this.mirrorSources(m)
    ]
    const fetched = await fetchDag(store, m.root, sources, {
      signal: options.signal,
      onProgress: options.onProgress,
      watch: options.usePeers === false ? undefined : this.c.peers?.watch,
      pin: false,
      maxBytes: m.dagBytes,
      maxBlocks: m.blocks,
      // the installed version's blocks are bases for deltas of the new one's
      base: heldRoot === undefined || deltas === undefined || !await store.has(parseRoot(heldRoot))
        ? undefined
        : deltas.base(store, m.root, parseRoot(heldRoot))
    })
    this.count(result, fetched.wire, fetched.fetchedBytes)
    const totals = await dagTotals(store, m.root, options.signal)
    const size = (await stat(store, m.root)).size
    if (size !== m.size || totals.blocks !== m.blocks || totals.bytes !== m.dagBytes) {
      const fetched = `${size} bytes of content, ${totals.blocks} blocks, ${totals.bytes} bytes`
      throw new MixAndMatchError(`${m.name} ${m.version}: the fetched DAG (${fetched}) does not match its manifest (${m.size}, ${m.blocks}, ${m.dagBytes})`)
    }
  }

  /**
   * Fetch one dependency by the root the parent's signed manifest names. If peers offer its own release, that
   * release must agree (same root for that version), and its mirrors and dependencies are used too.
   */
  private async fetchDependency (dep: Dependency, result: UpdateResult, options: UpdateOptions, now: number): Promise<Dependency[]> {
    const offers = await this.c.bundles?.offers(dep.name, { blocks: true, have: null }, options.signal) ?? []
    for (const o of offers) { result.wireBytes += o.bundle.length; result.bundleBytes += o.bundle.length }
    let opened: OpenedRelease | undefined
    for (const o of offers) {
      const r = await openBundle(o.bundle).catch(() => undefined)
      if (r === undefined || r.manifest.name !== dep.name || r.manifest.version !== dep.version) continue
      if (!r.manifest.root.equals(dep.root)) {
        throw new MixAndMatchError(`dependency ${dep.name}@${dep.version}: its release names root ${r.manifest.root}, the depending manifest ${dep.root}`)
      }
      if (r.manifest.expires > now) opened = r
    }
    const before = result.wireBytes
    if (opened !== undefined) await this.c.store.putMany(opened.blocks)
    const sources = [...await this.c.peers?.sources() ?? [], ...opened === undefined ? [] : await this.mirrorSources(opened.manifest)]
    const fetched = await fetchDag(this.c.store, dep.root, sources, {
      signal: options.signal,
      onProgress: options.onProgress,
      watch: this.c.peers?.watch,
      pin: false,
      maxBytes: opened?.manifest.dagBytes,
      maxBlocks: opened?.manifest.blocks
    })
    this.count(result, fetched.wire, fetched.fetchedBytes)
    result.deps.push({ name: dep.name, version: dep.version, root: dep.root.toString(), wireBytes: result.wireBytes - before })
    return opened?.manifest.deps ?? []
  }

  private count (result: UpdateResult, wire: Record<string, number>, fetchedBytes: number): void {
    for (const [id, n] of Object.entries(wire)) {
      result.sources[id] = (result.sources[id] ?? 0) + n
      result.wireBytes += n
    }
    result.fetchedBytes += fetchedBytes
  }

  /** Sources for the manifest's mirrors: plain web servers by byte range, gateways by CID. */
  private async mirrorSources (m: ReleaseManifest): Promise<BlockSource[]> {
    const out: BlockSource[] = []
    let locations: Awaited<ReturnType<typeof chunkLocations>> | null | undefined
    for (const mirror of m.mirrors) {
      if (mirror.type === 'gateway') {
        out.push(gatewaySource(mirror.url))
      } else {
        // without the DAG's interior (no bundle carried it, no peer sent it) chunks cannot be located on a file mirror
        locations ??= await chunkLocations(this.c.store, m.root).catch((err: Error & { code?: string }) => {
          if (err.code === 'ERR_BLOCK_NOT_FOUND') return null
          throw err
        })
        if (locations !== null) out.push(rangeMirrorSource(mirror.url, locations))
      }
    }
    return out
  }
}

/** The owner of the pins of a package's installed release (Blockstore.pin): the next version's install drops it. */
function releasePin (name: string): string {
  return `release:${name}`
}

function parseRoot (text: string): CID {
  return CID.parse(text)
}

/**
 * Read a bundle from a file or an http(s) URL, refusing more than MAX_BUNDLE_BYTES without reading further
 * (a server streaming endless data is cut off).
 */
export async function readBundle (location: string, signal?: AbortSignal): Promise<Uint8Array> {
  if (!/^https?:\/\//.test(location)) {
    try {
      return await readCapped(location, MAX_BUNDLE_BYTES, 'release bundle')
    } catch (err) {
      if (err instanceof CmeshError && err.code !== 'ERR_PATH_NOT_FOUND') throw err
      throw new InvalidManifestError(`cannot read ${location}: ${(err as Error).message}`)
    }
  }
  let res: Response
  try {
    res = await fetch(location, { signal: signal ?? AbortSignal.timeout(BUNDLE_FETCH_TIMEOUT_MS) })
  } catch (err) {
    throw new MirrorError(location, (err as Error).message, { cause: err })
  }
  if (!res.ok || res.body === null) throw new MirrorError(location, `answered ${res.status}`, { status: res.status })
  const parts: Uint8Array[] = []
  let total = 0
  for await (const part of res.body) {
    total += part.length
    if (total > MAX_BUNDLE_BYTES) {
      await res.body.cancel().catch(() => {})
      throw new TooLargeError(`${location} sent more than the ${MAX_BUNDLE_BYTES} byte limit of a release bundle`)
    }
    parts.push(part)
  }
  return Buffer.concat(parts)
}
