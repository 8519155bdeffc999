import { writeFile } from 'node:fs/promises'
import { loadPublisherKey } from '../../policy/trust/keys.js'
import { checkReleaseName, checkVersion, type Mirror } from '../../policy/trust/release-manifest.js'
import { Releases } from '../../sync/releases/releases.js'
import { TrustStore } from '../../policy/trust/trust.js'
import { ReleaseIndex } from '../../store/release-index.js'
import { parseCount, UsageError } from '../args.js'
import type { Command } from '../command.js'

const DAY_MS = 24 * 3600 * 1000

export const publish: Command = {
  name: 'publish',
  summary: 'import a directory or file and publish it as a signed release (peers and `cmesh update` then offer it)',
  usage: 'publish <path> --name N --version V --key KEYFILE [--mirror URL]... [--gateway-mirror URL]... [--dep NAME@VERSION]... [--seq N] [--expires-days D] [--raw] [-o BUNDLE]',
  options: {
    name: { type: 'string' },
    version: { type: 'string' },
    key: { type: 'string' },
    mirror: { type: 'string', multiple: true },
    'gateway-mirror': { type: 'string', multiple: true },
    dep: { type: 'string', multiple: true },
    seq: { type: 'string' },
    'expires-days': { type: 'string' },
    output: { type: 'string', short: 'o' },
    raw: { type: 'boolean' }
  },
  async run (ctx, values, [path]) {
    if (path === undefined) throw new UsageError('publish: missing <path>')
    if (typeof values.name !== 'string') throw new UsageError('publish: missing --name')
    if (typeof values.version !== 'string') throw new UsageError('publish: missing --version')
    if (typeof values.key !== 'string') throw new UsageError('publish: missing --key (make one with `cmesh keygen -o KEYFILE`)')
    checkReleaseName(values.name)
    checkVersion(values.version)
    const key = await loadPublisherKey(values.key)
    const mirrors: Mirror[] = [
      ...((values.mirror as string[] | undefined) ?? []).map(url => ({ url, type: 'files' as const })),
      ...((values['gateway-mirror'] as string[] | undefined) ?? []).map(url => ({ url, type: 'gateway' as const }))
    ]
    const days = parseCount(values['expires-days'] as string | undefined, 'publish: --expires-days')
    if (days === 0) throw new UsageError('publish: --expires-days must be at least 1')
    const store = ctx.openStore()
    const releases = new Releases({ store, trust: new TrustStore(store.repo), index: new ReleaseIndex(store.repo) })
    const r = await releases.publish(path, {
      name: values.name,
      version: values.version,
      key,
      mirrors,
      deps: values.dep as string[] | undefined,
      seq: parseCount(values.seq as string | undefined, 'publish: --seq'),
      lifetimeMs: days === undefined ? undefined : days * DAY_MS,
      import: values.raw === true ? { raw: true } : undefined
    })
    if (typeof values.output === 'string') await writeFile(values.output, r.bundle)
    const m = r.manifest
    if (ctx.options.json) {
      ctx.printJson({
        release: r.release.toString(),
        name: m.name,
        version: m.version,
        seq: m.seq,
        root: m.root.toString(),
        size: m.size,
        blocks: m.blocks,
        dagBytes: m.dagBytes,
        bundleBytes: r.bundle.length,
        expires: m.expires,
        signer: key.publicKey
      })
    } else {
      ctx.print(`published ${m.name} ${m.version} (seq ${m.seq}): release ${r.release.toString()}, root ${m.root.toString()}, ${m.size} bytes`)
    }
  }
}
