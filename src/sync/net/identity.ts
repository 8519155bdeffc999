import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { RepoError } from '../../errors.js'
import { repoPath } from '../../repo/index.js'

/**
 * The node's private key: read from the repository, or generated (Ed25519) and written there on first start,
 * so a node is the same peer after a restart. Written to a temp file and renamed: a crash never leaves half a key.
 */
export async function loadOrCreateIdentity (repo: string): Promise<PrivateKey> {
  const path = repoPath(repo, 'identity')
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new RepoError(`cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (bytes !== undefined) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new RepoError(`${path} does not hold a valid private key: ${(err as Error).message}`, { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(repo, { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, path)
  return key
}
