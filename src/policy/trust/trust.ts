import { ExpiredError, RepoError, RollbackError, UntrustedKeyError } from '../../errors.js'
import { readJsonFile, writeJsonFile } from '../../store/json-file.js'
import { parsePublicKey } from './keys.js'
import { checkReleaseName, type ReleaseManifest } from './release-manifest.js'
import { repoPath } from '../../repo/index.js'

interface TrustFile {
  names: Record<string, string[]>
}

/**
 * Publisher keys a client trusts, per release name (`cmesh trust add <name> <key>`). A key trusted for one name
 * signs nothing else: a compromised key of one package cannot publish another.
 */
export class TrustStore {
  private readonly path: string

  constructor (repo: string) {
    this.path = repoPath(repo, 'trust')
  }

  private read (): TrustFile {
    const file = readJsonFile<TrustFile>(this.path, { names: {} })
    if (typeof file.names !== 'object' || file.names === null) throw new RepoError(`${this.path}: "names" must be an object`)
    return file
  }

  /** Trust `key` for releases of `name`; returns the key normalised. */
  add (name: string, key: string): string {
    checkReleaseName(name)
    const text = parsePublicKey(key).text
    const file = this.read()
    const keys = file.names[name] ?? []
    if (!keys.includes(text)) keys.push(text)
    file.names[name] = keys
    writeJsonFile(this.path, file)
    return text
  }

  /** Stop trusting `key` (or every key) for `name`; returns how many keys were removed. */
  remove (name: string, key?: string): number {
    const file = this.read()
    const keys = file.names[name] ?? []
    const text = key === undefined ? undefined : parsePublicKey(key).text
    const kept = text === undefined ? [] : keys.filter(k => k !== text)
    if (kept.length > 0) file.names[name] = kept
    else delete file.names[name]
    writeJsonFile(this.path, file)
    return keys.length - kept.length
  }

  keys (name: string): string[] {
    return this.read().names[name] ?? []
  }

  list (): Array<{ name: string, keys: string[] }> {
    return Object.entries(this.read().names).map(([name, keys]) => ({ name, keys }))
  }

  /** Refuse a signer not trusted for the manifest's name (ERR_UNTRUSTED_KEY). */
  checkSigner (manifest: Pick<ReleaseManifest, 'name'>, signer: string): void {
    if (!this.keys(manifest.name).includes(signer)) throw new UntrustedKeyError(manifest.name, signer)
  }
}

/**
 * The checks a release must pass before anything of it is installed, beyond its signature: a trusted signer,
 * not expired (freeze), and newer than what is held (rollback).
 */
export function checkRelease (trust: TrustStore, manifest: ReleaseManifest, signer: string, held: { seq: number } | undefined, now = Date.now()): void {
  trust.checkSigner(manifest, signer)
  if (manifest.expires <= now) throw new ExpiredError(manifest.name, manifest.expires)
  if (held !== undefined && manifest.seq <= held.seq) throw new RollbackError(manifest.name, manifest.seq, held.seq)
}
