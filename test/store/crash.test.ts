import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { importBytes } from '../../src/dag/importer.js'
import { verifyStore } from '../../src/dag/verify.js'
import { createStore } from '../../src/store/index.js'
import { pseudoRandom, tempDir } from '../helpers/temp.js'

const CHILD = fileURLToPath(new URL('../helpers/crash-child.js', import.meta.url))
const TRIALS = 20

describe('crash safety', () => {
  it(`survives SIGKILL at random moments of an import (${TRIALS} trials)`, async t => {
    const dir = tempDir(t)
    const repo = join(dir, 'repo')
    const src = join(dir, 'tree')
    mkdirSync(src)
    for (let i = 0; i < 40; i++) writeFileSync(join(src, `f${i}`), pseudoRandom(50_000, i + 100))

    const before = createStore({ repo })
    const committed = await importBytes(before, pseudoRandom(300_000, 1), { chunker: { minSize: 256, avgSize: 1024, maxSize: 4096 } })
    await before.close()

    let grew = 0
    let previousBlocks = 0
    for (let trial = 0; trial < TRIALS; trial++) {
      const child = spawn(process.execPath, [CHILD, repo, src, String(trial)], { stdio: ['ignore', 'pipe', 'inherit'] })
      const exited = new Promise(resolve => child.on('exit', resolve))
      await new Promise<void>(resolve => child.stdout.once('data', () => resolve()))
      await sleep(Math.floor(Math.random() * 400))
      child.kill('SIGKILL')
      await exited

      const store = createStore({ repo })
      try {
        assert.ok(store.isPinned(committed.cid), `trial ${trial}: the root committed before the crash is still pinned`)
        assert.deepEqual(store.missing(committed.cid), [], `trial ${trial}: and has all its blocks`)
        for (const root of store.roots()) {
          assert.deepEqual(store.missing(root.cid), [], `trial ${trial}: complete root ${root.cid} lacks blocks`)
        }
        const report = await verifyStore(store)
        assert.ok(report.ok, `trial ${trial}: verify found ${JSON.stringify(report)}`)
        const usage = store.stat()
        assert.equal(usage.blocks, report.blocks, `trial ${trial}: block count matches the blocks present`)
        assert.equal(usage.bytes, report.bytes, `trial ${trial}: byte count matches the blocks present`)
        if (report.blocks > previousBlocks) grew++
        previousBlocks = report.blocks
      } finally {
        await store.close()
      }
    }
    assert.ok(grew > 0, 'the child wrote something before being killed in at least one trial')
  })
})
