import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { startNeighbourhood, type SimNodeSpec } from '../helpers/neighbourhood.js'
import { collect, pseudoRandom, tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

describe('simulation harness', () => {
  it('a download completes, byte-identical, from a neighbourhood of slow, flaky, lying, corrupt, leaving and distant peers', async t => {
    const dir = tempDir(t)
    const data = pseudoRandom(1_500_000, 81)
    const file = join(dir, 'f')
    writeFileSync(file, data)
    const specs: SimNodeSpec[] = [
      { behaviour: 'honest', content: [file], uploadLimit: 1_000_000 },
      { behaviour: 'slow', content: [file] },
      { behaviour: 'flaky', content: [file] },
      { behaviour: 'lying' },
      { behaviour: 'corrupt', content: [file] },
      { behaviour: 'leaving', content: [file], leaveAfterMs: 150 },
      { behaviour: 'honest', content: [file], latencyMs: 40 },
      { behaviour: 'honest', rarestFirst: true }
    ]
    const hood = await startNeighbourhood(specs)
    t.after(async () => await hood.stop())
    const leecher = hood.nodes[hood.nodes.length - 1]!
    await waitFor(() => leecher.libp2p.getPeers().length >= specs.length - 1, { what: 'the leecher to meet the neighbourhood' })
    assert.equal(leecher.libp2p.getPeers().length, specs.length - 1, 'peer exchange connected the newcomer to everyone')
    const cid = (await hood.nodes[0]!.add(file)).cid
    const bad: string[] = []
    hood.leave()
    const r = await leecher.fetch(cid, { batchSize: 16, onProgress: e => { if (e.type === 'fetch:bad-block') bad.push(e.source) } })
    assert.deepEqual(await collect(leecher.cat(cid)), Buffer.from(data))
    assert.deepEqual(bad, [hood.nodes[4]!.peerId.toString()], 'the corrupting peer was caught')
    assert.ok(leecher.blocks.banned.has(hood.nodes[4]!.peerId.toString()))
    assert.equal(r.sources[hood.nodes[3]!.peerId.toString()] ?? 0, 0, 'the liar sent nothing')
    assert.ok((r.sources[hood.nodes[6]!.peerId.toString()] ?? 0) > 0, 'the distant peer still helped')
  })
})
