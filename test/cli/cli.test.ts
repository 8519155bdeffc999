import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { parseSize } from '../../src/cli/args.js'
import { ProgressBar } from '../../src/cli/progress.js'
import { importBytes } from '../../src/dag/importer.js'
import { decodeNode } from '../../src/dag/nodes.js'
import { createStore } from '../../src/store/index.js'
import { runCli, runMain, type CliResult } from '../helpers/cli.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

function failsCleanly (r: CliResult, code: string, exit = 1): void {
  assert.equal(r.code, exit, `exit code (stderr: ${r.stderr})`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`)
  assert.match(lines[0]!, new RegExp(`^cmesh: .+ \\[${code}\\]$`))
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
}

// Each command runs once as the real binary (runCli); the other checks of what it prints run its main in this
// process (runMain): the same parsing and output, without a process started for each.
describe('cmesh CLI', () => {
  it('adds, lists, reads, exports and re-imports content', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const src = join(dir, 'src')
    mkdirSync(join(src, 'lib'), { recursive: true })
    writeFileSync(join(src, 'README'), 'read me\n')
    writeFileSync(join(src, 'lib', 'data.bin'), pseudoRandom(300_000, 41))

    const added = await runCli(['add', src, '--repo', repo, '--json'])
    assert.equal(added.code, 0, added.stderr)
    assert.equal(added.stderr, '', 'no progress bar when stderr is not a TTY')
    const info = JSON.parse(added.stdout) as { cid: string, size: number, blocks: number, newBlocks: number, newBytes: number }
    assert.equal(info.size, 300_008)
    assert.equal(info.newBlocks, info.blocks)
    assert.ok(info.newBytes >= 300_008)
    const again = JSON.parse((await runMain(['add', src, '--repo', repo, '--json'])).stdout) as typeof info
    assert.equal(again.cid, info.cid)
    assert.equal(again.newBytes, 0)
    const plain = await runMain(['add', join(src, 'README'), '--repo', repo, '--hash', 'sha2-256'])
    assert.match(plain.stdout, /^bafk[a-z2-7]+\n$/)

    const ls = await runCli(['ls', info.cid, '--repo', repo])
    assert.equal(ls.code, 0)
    assert.match(ls.stdout, /file\s+0644\s+8 \S+ README/)
    assert.match(ls.stdout, /dir\s+0755\s+300000 \S+ lib/)
    const lsJson = (await runMain(['ls', `${info.cid}/lib`, '--repo', repo, '--json'])).stdout.trim().split('\n').map(l => JSON.parse(l) as { name: string })
    assert.deepEqual(lsJson.map(e => e.name), ['data.bin'])

    const cat = await runCli(['cat', `${info.cid}/README`, '--repo', repo])
    assert.equal(cat.stdout, 'read me\n')
    const range = await runMain(['cat', `${info.cid}/lib/data.bin`, '--offset', '1000', '--length', '5000', '--repo', repo])
    assert.deepEqual(range.stdoutBytes, Buffer.from(pseudoRandom(300_000, 41).subarray(1000, 6000)))

    const out = join(dir, 'out')
    const get = await runCli(['get', info.cid, '-o', out, '--repo', repo])
    assert.equal(get.code, 0, get.stderr)
    assert.deepEqual(readFileSync(join(out, 'lib', 'data.bin')), Buffer.from(pseudoRandom(300_000, 41)))
    failsCleanly(await runMain(['get', info.cid, '-o', out, '--repo', repo]), 'ERR_EXPORT_CONFLICT')
    assert.equal((await runMain(['get', info.cid, '-o', out, '--force', '--repo', repo])).code, 0)

    const car = join(dir, 'x.car')
    const exported = await runCli(['export', info.cid, '--car', car, '--repo', repo, '--json'])
    assert.equal(exported.code, 0, exported.stderr)
    const repo2 = join(dir, 'repo2')
    const imported = JSON.parse((await runCli(['import', car, '--repo', repo2, '--json'])).stdout) as { complete: string[] }
    assert.deepEqual(imported.complete, [info.cid])
    const verify = await runCli(['verify', '--repo', repo2])
    assert.equal(verify.code, 0)
    assert.match(verify.stdout, /^ok: \d+ blocks verified/)
  })

  it('ends once its output is written, even with a timer left running (as libp2p leaves debounce timers)', async t => {
    // a ten-minute timer started in the process before the command: the command still ends, with all it printed
    const repo = join(tempDir(t), 'repo')
    const leftBehind = ['--import', 'data:text/javascript,setTimeout(() => {}, 600000)']
    const src = join(tempDir(t), 'big')
    writeFileSync(src, pseudoRandom(2_000_000, 9))
    const cid = (await runCli(['add', src, '--repo', repo, '--quiet'], {}, { nodeArgs: leftBehind })).stdout.trim()
    const cat = await runCli(['cat', cid, '--repo', repo], {}, { nodeArgs: leftBehind })
    assert.equal(cat.code, 0, cat.stderr)
    assert.deepEqual(cat.stdoutBytes, Buffer.from(pseudoRandom(2_000_000, 9)), 'every byte was written before it ended')
    const bad = await runCli(['cat', 'not-a-cid', '--repo', repo], {}, { nodeArgs: leftBehind })
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /^cmesh: .+\n$/)
  })

  it('pins, unpins, collects garbage and reports the store', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    writeFileSync(join(dir, 'f'), pseudoRandom(200_000, 42))
    const cid = (await runMain(['add', join(dir, 'f'), '--repo', repo, '--no-pin'])).stdout.trim()
    assert.equal((await runCli(['pin', '--repo', repo])).stdout, '')
    assert.equal((await runMain(['pin', cid, '--repo', repo])).code, 0)
    assert.equal((await runMain(['pin', '--repo', repo])).stdout.trim(), `${cid}  user`)
    assert.deepEqual(JSON.parse((await runMain(['pin', '--repo', repo, '--json'])).stdout), { cid, owners: ['user'] })
    const gc0 = JSON.parse((await runCli(['gc', '--repo', repo, '--json'])).stdout) as { removedBlocks: number }
    assert.equal(gc0.removedBlocks, 0)
    const unpinned = JSON.parse((await runCli(['unpin', cid, '--repo', repo, '--json'])).stdout) as { wasPinned: boolean }
    assert.equal(unpinned.wasPinned, true)
    assert.match((await runMain(['unpin', cid, '--repo', repo])).stdout, /was not pinned/)
    assert.match((await runMain(['gc', '--repo', repo])).stdout, /^removed \d+ blocks/)
    const stat = JSON.parse((await runCli(['stat', '--repo', repo, '--json'])).stdout) as { blocks: number, bytes: number, capacity: number | null }
    assert.deepEqual([stat.blocks, stat.bytes, stat.capacity], [0, 0, null])
    const human = await runMain(['stat', '--repo', repo, '--capacity', '1GB'])
    assert.match(human.stdout, /capacity\s+1\.0 GB/)
    // CMESH_REPO picks the repository when --repo is absent
    const viaEnv = await runCli(['stat', '--json'], { CMESH_REPO: repo })
    assert.equal((JSON.parse(viaEnv.stdout) as { repo: string }).repo, repo)
  })

  it('turns every kind of bad input into one clear line and a non-zero exit', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    writeFileSync(join(dir, 'f'), pseudoRandom(50_000, 43))
    const cid = (await runMain(['add', join(dir, 'f'), '--repo', repo, '--chunker', '256/1KiB/4KiB'])).stdout.trim()

    failsCleanly(await runMain(['cat', 'not-a-cid', '--repo', repo]), 'ERR_INVALID_CID')
    failsCleanly(await runMain(['cat', 'bafkr4ibc7z4xu3k4zqmqhsy6yyenhbnz3wfxkr5k2r4rcfzaxbxcsemdoy', '--repo', repo]), 'ERR_BLOCK_NOT_FOUND')
    failsCleanly(await runMain(['add', join(dir, 'nope'), '--repo', repo]), 'ERR_PATH_NOT_FOUND')
    failsCleanly(await runMain(['add', '--repo', repo]), 'ERR_USAGE', 2)
    failsCleanly(await runMain(['add', join(dir, 'f'), '--repo', repo, '--hash', 'md5']), 'ERR_USAGE', 2)
    failsCleanly(await runMain(['add', join(dir, 'f'), '--repo', repo, '--chunker', '1/2']), 'ERR_USAGE', 2)
    failsCleanly(await runMain(['add', join(dir, 'f'), '--repo', repo, '--chunker', '100/1000/4000']), 'ERR_INVALID_OPTION')
    failsCleanly(await runMain(['cat', cid, '--offset', '-5', '--repo', repo]), 'ERR_USAGE', 2)
    failsCleanly(await runCli(['frobnicate']), 'ERR_USAGE', 2)
    failsCleanly(await runMain(['cat', cid, '--bogus', '--repo', repo]), 'ERR_USAGE', 2)
    failsCleanly(await runMain(['get', cid, '--repo', repo]), 'ERR_USAGE', 2)
    failsCleanly(await runMain(['export', cid, '--repo', repo]), 'ERR_USAGE', 2)
    failsCleanly(await runMain(['import', join(dir, 'f'), '--repo', repo]), 'ERR_INVALID_CAR')
    failsCleanly(await runMain(['ls', cid, '--repo', repo]), 'ERR_NOT_IN_DAG')
    failsCleanly(await runMain(['stat', '--repo', join(dir, 'f')]), 'ERR_REPO_UNREADABLE')
    failsCleanly(await runMain(['add', join(dir, 'f'), '--repo', join(dir, 'small'), '--capacity', '10KB']), 'ERR_STORE_FULL')
    failsCleanly(await runMain(['add', join(dir, 'f'), '--repo', repo, '--capacity', 'lots']), 'ERR_USAGE', 2)
    writeFileSync(join(dir, 'bad-config'), '')
    mkdirSync(join(dir, 'cfg'))
    writeFileSync(join(dir, 'cfg', 'config.json'), '{ not json')
    failsCleanly(await runMain(['stat', '--repo', join(dir, 'cfg')]), 'ERR_REPO_UNREADABLE')
    const usage = await runCli([])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /usage: cmesh <command>/)
    const help = await runCli(['--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /verify/)
    assert.match((await runMain(['add', '--help'])).stdout, /usage: cmesh add <path>/)

    // a corrupt block: cat and verify both name it and exit non-zero
    const store = createStore({ repo })
    const root = decodeNode((await import('../../src/dag/cid.js')).parseCid(cid), store.getSync((await import('../../src/dag/cid.js')).parseCid(cid)))
    assert.ok(root.type === 'file')
    const victim = root.links[root.links.length - 1]!.cid // a leaf or a file node, whatever the file fanout
    const bad = Uint8Array.from(store.getSync(victim))
    bad[10] = bad[10]! ^ 0x55
    await store.unpin((await import('../../src/dag/cid.js')).parseCid(cid))
    await store.delete(victim)
    await store.put(victim, bad)
    await store.close()
    const corrupt = await runCli(['cat', cid, '--repo', repo])
    failsCleanly(corrupt, 'ERR_BLOCK_CORRUPT')
    assert.ok(corrupt.stderr.includes(victim.toString()), 'the error names the corrupt block')
    const verify = await runMain(['verify', '--repo', repo, '--json'])
    assert.equal(verify.code, 1)
    assert.deepEqual((JSON.parse(verify.stdout) as { corrupt: string[] }).corrupt, [victim.toString()])
    const verifyText = await runCli(['verify', '--repo', repo])
    assert.equal(verifyText.code, 1)
    assert.match(verifyText.stderr, new RegExp(`corrupt block ${victim.toString()}`))
  })

  it('shows a progress bar only on a terminal', async () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream
    let drawn = ''
    ;(tty as unknown as PassThrough).on('data', (d: Buffer) => { drawn += d.toString() })
    const bar = new ProgressBar('add', false, tty)
    bar.update(50, 100)
    bar.update(100, 100)
    bar.done()
    assert.match(drawn, /add \[#+\s*\]\s+50%/)
    assert.match(drawn, /100%/)
    const quiet = new ProgressBar('add', true, tty)
    drawn = ''
    quiet.update(1, 2)
    assert.equal(drawn, '')
    assert.equal(parseSize('1.5GiB', 'x'), 1.5 * 1024 ** 3)
  })

  it('runs from the library the same as from the CLI', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const data = pseudoRandom(70_000, 44)
    writeFileSync(join(dir, 'f'), data)
    const store = createStore({ repo: join(dir, 'lib-repo') })
    const lib = await importBytes(store, data)
    await store.close()
    assert.equal((await runMain(['add', join(dir, 'f'), '--repo', repo])).stdout.trim(), lib.cid.toString())
  })
})
