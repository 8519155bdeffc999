import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { commandHelp, HELP_COLUMNS, mainHelp, usageWords, wrap } from '../../src/cli/help.js'
import { callerDirectory, version } from '../../src/cli/main.js'
import { COMMANDS } from '../../src/cli/registry.js'
import { runCli, runMain, type CliResult } from '../helpers/cli.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

const MODULE_LOG = fileURLToPath(new URL('../helpers/module-log.js', import.meta.url))
const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url))

function failsWith (r: CliResult, code: string, exit: number, pattern: RegExp): void {
  assert.equal(r.code, exit, `exit code (stderr: ${r.stderr})`)
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line on stderr: ${r.stderr}`)
  assert.match(r.stderr, new RegExp(`\\[${code}\\]\\n$`))
  assert.match(r.stderr, pattern)
}

/** The modules (file URLs) a cmesh run loaded. */
async function loadedBy (t: import('node:test').TestContext, args: string[]): Promise<{ run: CliResult, modules: string[] }> {
  const log = join(tempDir(t), 'modules.txt')
  const run = await runCli(args, { CMESH_MODULE_LOG: log }, { nodeArgs: ['--import', MODULE_LOG] })
  return { run, modules: readFileSync(log, 'utf8').split('\n') }
}

/** What only a node (the network, its services, the daemon's API) needs: a store command must load none of it. */
const NETWORK = /node_modules\/(libp2p|@libp2p|@chainsafe|@multiformats\/dns)\/|\/dist\/src\/(sync|node|daemon|analytics)\//

describe('cmesh commands', () => {
  it('loads only what the command uses: no network stack for add, stat, ls, cat or get', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    mkdirSync(join(dir, 'src'))
    writeFileSync(join(dir, 'src', 'a.txt'), 'hello\n')
    const added = await loadedBy(t, ['add', join(dir, 'src'), '--repo', repo])
    assert.equal(added.run.code, 0, added.run.stderr)
    const cid = added.run.stdout.trim()
    const runs = [
      added,
      await loadedBy(t, ['stat', '--repo', repo]),
      await loadedBy(t, ['ls', cid, '--repo', repo]),
      await loadedBy(t, ['cat', `${cid}/a.txt`, '--repo', repo]),
      await loadedBy(t, ['get', cid, '-o', join(dir, 'out'), '--repo', repo])
    ]
    for (const { run, modules } of runs) {
      assert.equal(run.code, 0, run.stderr)
      assert.ok(modules.some(m => m.endsWith('/dist/src/store/lmdb-store.js')), 'the log sees the modules it loads')
      assert.deepEqual(modules.filter(m => NETWORK.test(m)), [])
      assert.ok(!modules.some(m => m.includes('/dist/src/cli/commands/') && m.endsWith('/peers.js')), 'other commands are not loaded')
    }
    // the daemon's command does load the network: the check above can fail
    const daemonHelp = await loadedBy(t, ['daemon', '--help'])
    assert.ok(daemonHelp.modules.some(m => NETWORK.test(m)))
  })

  it('prints its version and help that fits 100 columns', async () => {
    const pkg = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }
    assert.equal(version(), pkg.version)
    const v = await runCli(['--version'])
    assert.equal(v.code, 0)
    assert.equal(v.stdout, `cmesh ${pkg.version}\n`)

    const help = await runCli(['--help'])
    assert.equal(help.code, 0)
    assert.equal(help.stdout, mainHelp(COMMANDS))
    for (const entry of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${entry.name} +\\S`, 'm'))
    const texts = [help.stdout]
    for (const entry of COMMANDS) {
      const command = await entry.load()
      assert.equal(command.name, entry.name, 'the registry loads the command it names')
      texts.push(commandHelp(command))
    }
    const daemon = await runMain(['daemon', '--help'])
    assert.equal(daemon.stdout, texts[1 + COMMANDS.findIndex(c => c.name === 'daemon')])
    assert.match(daemon.stdout, /^usage: cmesh daemon \[--listen MULTIADDR\]\.\.\. /)
    for (const text of texts) {
      for (const line of text.split('\n')) assert.ok(line.length <= HELP_COLUMNS, `${line.length} columns: ${line}`)
    }
    assert.deepEqual(wrap('aa bb cc dd', 5), ['aa bb', 'cc dd'])
    assert.deepEqual(wrap('a verylongword b', 4), ['a', 'verylongword', 'b'])
    assert.deepEqual(usageWords('get <cid>[/path] [--listen ADDR]... -o X'), ['get', '<cid>[/path]', '[--listen ADDR]...', '-o', 'X'])
  })

  it('names --force when get would overwrite, and overwrites with it', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    writeFileSync(join(dir, 'f'), 'new bytes\n')
    const cid = (await runCli(['add', join(dir, 'f'), '--repo', repo])).stdout.trim()
    const out = join(dir, 'out.txt')
    writeFileSync(out, 'old\n')
    failsWith(await runCli(['get', cid, '-o', out, '--repo', repo]), 'ERR_EXPORT_CONFLICT', 1, /already exists \(--force overwrites it\)/)
    assert.equal(readFileSync(out, 'utf8'), 'old\n')
    assert.equal((await runMain(['get', cid, '-o', out, '--force', '--repo', repo])).code, 0)
    assert.equal(readFileSync(out, 'utf8'), 'new bytes\n')
    // a directory in the way is not overwritten, so --force is not offered
    const r = await runMain(['get', cid, '-o', dir, '--repo', repo])
    failsWith(r, 'ERR_EXPORT_CONFLICT', 1, /a directory is in the way/)
    assert.doesNotMatch(r.stderr, /--force/)
  })

  it('says a negative number is not allowed, for command and global options', async t => {
    const repo = join(tempDir(t), 'repo')
    const cid = 'bafkr4ibc7z4xu3k4zqmqhsy6yyenhbnz3wfxkr5k2r4rcfzaxbxcsemdoy'
    // the binary once; the other refusals through main in this process (the same parsing)
    failsWith(await runCli(['cat', cid, '--offset', '-5', '--repo', repo]), 'ERR_USAGE', 2, /--offset: must not be negative, got -5/)
    failsWith(await runMain(['cat', cid, '--length=-1', '--repo', repo]), 'ERR_USAGE', 2, /--length: must not be negative, got -1/)
    failsWith(await runMain(['peers', '--wait', '-2', '--repo', repo]), 'ERR_USAGE', 2, /--wait: must not be negative/)
    failsWith(await runMain(['stat', '--capacity', '-1GB', '--repo', repo]), 'ERR_USAGE', 2, /--capacity: must not be negative, got -1GB/)
    failsWith(await runMain(['cat', cid, '--offset', '1.5', '--repo', repo]), 'ERR_USAGE', 2, /--offset: expected a non-negative integer/)
  })

  it('confirms what pin and unpin did', async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    writeFileSync(join(dir, 'f'), pseudoRandom(5000, 7))
    const cid = (await runMain(['add', join(dir, 'f'), '--repo', repo, '--no-pin'])).stdout.trim()
    assert.equal((await runCli(['pin', cid, '--repo', repo])).stdout, `pinned ${cid}\n`)
    const unpinned = await runCli(['unpin', cid, '--repo', repo])
    assert.equal(unpinned.code, 0)
    assert.match(unpinned.stdout, new RegExp(`^unpinned ${cid}; \`cmesh gc\` may now remove its blocks\\n$`))
    assert.match((await runMain(['unpin', cid, '--repo', repo])).stdout, /was not pinned by you/)
  })

  it('resolves paths against the caller\'s directory when run through `npm run cmesh`', async t => {
    const dir = tempDir(t)
    const caller = join(dir, 'caller')
    mkdirSync(caller)
    writeFileSync(join(caller, 'notes.txt'), 'from the caller\n')
    assert.equal(callerDirectory({ npm_lifecycle_event: 'cmesh', INIT_CWD: caller }), caller)
    assert.equal(callerDirectory({ npm_lifecycle_event: 'test', INIT_CWD: caller }), undefined, 'only the cmesh script')
    assert.equal(callerDirectory({}), undefined)

    const npm = { npm_lifecycle_event: 'cmesh', INIT_CWD: caller }
    const added = await runCli(['add', 'notes.txt', '--repo', 'repo'], npm, { cwd: dir })
    assert.equal(added.code, 0, added.stderr)
    const cid = added.stdout.trim()
    assert.equal((await runCli(['get', cid, '-o', 'copy.txt', '--repo', 'repo'], npm, { cwd: dir })).code, 0)
    assert.equal(readFileSync(join(caller, 'copy.txt'), 'utf8'), 'from the caller\n')
    // without npm's variables the same relative path is the process's own
    const direct = await runCli(['add', 'notes.txt', '--repo', 'repo'], { npm_lifecycle_event: '', INIT_CWD: '' }, { cwd: dir })
    failsWith(direct, 'ERR_PATH_NOT_FOUND', 1, /notes\.txt/)
  })
})
