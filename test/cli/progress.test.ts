import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { main } from '../../src/cli/main.js'
import { startApi } from '../../src/daemon/index.js'
import { createNode } from '../../src/node/index.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

const ESC = String.fromCharCode(0x1b)

/** A sink that says it is a terminal, so the CLI draws its progress bar into it. */
class Terminal extends Writable {
  readonly isTTY = true
  text = ''
  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString()
    done()
  }

  /** Every state the bar was drawn in (each redraw starts with a carriage return). */
  bars (label: string): string[] {
    return this.text.split('\r').filter(s => s.startsWith(`${label} [`)).map(s => s.replace(`${ESC}[K`, ''))
  }
}

class Sink extends Writable {
  text = ''
  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

describe('cmesh fetch progress bar', () => {
  it('reads done of the real total, through the daemon as with a node of its own, and ends at 100 %', async t => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'f'), pseudoRandom(2_500_000, 91))
    const net = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }
    const seeder = await createNode({ repo: join(dir, 'seeder'), ...net, minPeers: 0 })
    t.after(async () => await seeder.stop())
    const cid = (await seeder.add(join(dir, 'f'))).cid.toString()
    const daemonRepo = join(dir, 'daemon')
    const daemon = await createNode({ repo: daemonRepo, ...net, bootstrap: [seeder.addrs()[0]!] })
    t.after(async () => await daemon.stop())
    const api = await startApi(daemon, daemonRepo)
    t.after(async () => await api.close())

    const run = async (args: string[]): Promise<{ code: number, stdout: string, bars: string[] }> => {
      const stdout = new Sink()
      const stderr = new Terminal()
      const code = await main(['fetch', cid, ...args], stdout, stderr)
      return { code, stdout: stdout.text, bars: stderr.bars('fetch') }
    }
    const viaDaemon = await run(['--repo', daemonRepo])
    assert.equal(viaDaemon.code, 0)
    assert.match(viaDaemon.stdout, /^\S+: \d+ bytes from \d+ peer\(s\) in \d+\.\d\d s \(through the daemon\)\n$/)
    const own = await run(['--repo', join(dir, 'own'), '--bootstrap', seeder.addrs()[0]!, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'])
    assert.equal(own.code, 0)
    assert.match(own.stdout, /^\S+: \d+ bytes from \d+ peer\(s\) in \d+\.\d\d s\n$/)

    for (const [name, bars] of [['daemon', viaDaemon.bars], ['own', own.bars]] as const) {
      assert.ok(bars.length > 0, `${name}: a bar was drawn`)
      for (const bar of bars) assert.match(bar, /\] +\d+% \S+ \S+\/2\.5 MB /, `${name}: every state shows done of the file's 2.5 MB: ${bar}`)
      assert.match(bars.at(-1)!, /\] 100% 2\.5 MB\/2\.5 MB /, `${name}: the last state is complete`)
    }

    // --json: the same report either way, no bar on a stderr that is not a terminal
    const json = new Sink()
    const quiet = new Sink()
    assert.equal(await main(['fetch', cid, '--repo', daemonRepo, '--json'], json, quiet), 0)
    const report = JSON.parse(json.text) as { cid: string, bytes: number, sources: Record<string, number> }
    assert.equal(report.cid, cid)
    assert.deepEqual(Object.keys(report.sources), [], 'held already: nothing fetched again')
    assert.equal(quiet.text, '')
  })
})
