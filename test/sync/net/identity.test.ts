import assert from 'node:assert/strict'
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../../src/sync/net/identity.js'
import { repoPath } from '../../../src/repo/index.js'
import { tempDir } from '../../helpers/temp.js'

describe('node identity', () => {
  it('creates an Ed25519 key once, keeps it private, and returns the same peer after a restart', async t => {
    const repo = join(tempDir(t), 'repo')
    const first = await loadOrCreateIdentity(repo)
    assert.equal(first.type, 'Ed25519')
    assert.equal(statSync(repoPath(repo, 'identity')).mode & 0o777, 0o600)
    const again = await loadOrCreateIdentity(repo)
    assert.equal(peerIdFromPrivateKey(again).toString(), peerIdFromPrivateKey(first).toString())
  })

  it('refuses a damaged key file instead of silently becoming another peer', async t => {
    const repo = tempDir(t)
    writeFileSync(repoPath(repo, 'identity'), 'garbage')
    await assert.rejects(loadOrCreateIdentity(repo), { code: 'ERR_REPO_UNREADABLE' })
  })
})
