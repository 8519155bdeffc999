import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, RepoError } from '../../src/errors.js'
import { createNode } from '../../src/node/index.js'
import { MAX_CONFIG_BYTES, readRepoConfig, rememberPort, REPO_ENTRIES, repoPath, resolveRepo, sizeInBytes } from '../../src/repo/index.js'
import { createStore } from '../../src/store/index.js'
import { tempDir } from '../helpers/temp.js'

describe('repository', () => {
  it('names every entry once, each in the repository', () => {
    const names = Object.values(REPO_ENTRIES)
    assert.equal(new Set(names).size, names.length, 'no two entries share a name')
    assert.equal(repoPath('/r', 'trust'), join('/r', 'trust.json'))
    assert.equal(repoPath('/r', 'store'), join('/r', 'store.mdb'))
  })

  it('resolves the repository from the option, then $CMESH_REPO, then ~/.cmesh', t => {
    const saved = process.env.CMESH_REPO
    t.after(() => { if (saved === undefined) delete process.env.CMESH_REPO; else process.env.CMESH_REPO = saved })
    process.env.CMESH_REPO = '/from/env'
    assert.equal(resolveRepo('/given'), '/given')
    assert.equal(resolveRepo(), '/from/env')
    delete process.env.CMESH_REPO
    assert.match(resolveRepo(), /\.cmesh$/)
  })

  it('reads sizes as bytes, or says it cannot', () => {
    assert.equal(sizeInBytes('1000'), 1000)
    assert.equal(sizeInBytes('10GB'), 10e9)
    assert.equal(sizeInBytes('512MiB'), 512 * 1024 * 1024)
    assert.equal(sizeInBytes('1.5 kb'), 1500)
    assert.equal(sizeInBytes('lots'), undefined)
    assert.equal(sizeInBytes('10 parsecs'), undefined)
  })

  it('reads config.json: absent is empty, a size or a byte count sets capacity, anything else is refused', t => {
    const repo = tempDir(t)
    assert.deepEqual(readRepoConfig(repo), {})
    const file = repoPath(repo, 'config')
    writeFileSync(file, JSON.stringify({ capacity: '2MB' }))
    assert.deepEqual(readRepoConfig(repo), { capacity: 2_000_000 })
    writeFileSync(file, JSON.stringify({ capacity: 4096 }))
    assert.deepEqual(readRepoConfig(repo), { capacity: 4096 })
    writeFileSync(file, JSON.stringify({ capacity: 'plenty' }))
    assert.throws(() => readRepoConfig(repo), (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CONFIG_INVALID')
    writeFileSync(file, JSON.stringify({ capacity: -1 }))
    assert.throws(() => readRepoConfig(repo), ConfigError)
    writeFileSync(file, '[1, 2]')
    assert.throws(() => readRepoConfig(repo), ConfigError)
    writeFileSync(file, '{ not json')
    assert.throws(() => readRepoConfig(repo), (err: unknown) => err instanceof RepoError && err.code === 'ERR_REPO_UNREADABLE')
    writeFileSync(file, ' '.repeat(MAX_CONFIG_BYTES + 1))
    assert.throws(() => readRepoConfig(repo), ConfigError)
  })

  it('keeps the daemon\'s port in config.json beside the other settings, and refuses a port that is not one', t => {
    const repo = tempDir(t)
    rememberPort(repo, 4737)
    assert.deepEqual(readRepoConfig(repo), { port: 4737 })
    writeFileSync(repoPath(repo, 'config'), JSON.stringify({ capacity: '1GB' }))
    rememberPort(repo, 5000)
    assert.deepEqual(readRepoConfig(repo), { capacity: 1e9, port: 5000 })
    for (const port of [0, 70000, 4.5, '4737']) {
      writeFileSync(repoPath(repo, 'config'), JSON.stringify({ port }))
      assert.throws(() => readRepoConfig(repo), { code: 'ERR_CONFIG_INVALID' }, String(port))
    }
  })

  it('the library opens a store and a node with the capacity config.json sets; an option overrides it', async t => {
    const repo = tempDir(t)
    writeFileSync(repoPath(repo, 'config'), JSON.stringify({ capacity: '3MB' }))
    const store = createStore({ repo })
    assert.equal(store.capacity, 3_000_000)
    await store.close()
    const overridden = createStore({ repo, capacity: 5000 })
    assert.equal(overridden.capacity, 5000)
    await overridden.close()
    const node = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    t.after(async () => await node.stop())
    assert.equal(node.store.capacity, 3_000_000)
  })
})
