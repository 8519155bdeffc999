import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { UploadScheduler, type UploadGrant, type UploadRequest } from '../../../src/policy/fairness/upload-scheduler.js'

/**
 * Backlogged requesters: each keeps `depth` requests waiting and sends a full message per grant at once. Returns
 * the block bytes each peer got over `messages` grants, in grant order.
 */
async function run (scheduler: UploadScheduler, peers: Array<Omit<UploadRequest, 'signal'> & { depth?: number }>, messages: number): Promise<{ bytes: Map<string, number>, order: string[] }> {
  const bytes = new Map<string, number>()
  const order: string[] = []
  let granted = 0
  const controller = new AbortController()
  let finish!: () => void
  const done = new Promise<void>(resolve => { finish = resolve })
  const loop = async (req: Omit<UploadRequest, 'signal'>): Promise<void> => {
    for (;;) {
      let g: UploadGrant
      try {
        g = await scheduler.acquire({ ...req, signal: controller.signal })
      } catch {
        return
      }
      order.push(req.peer)
      bytes.set(req.peer, (bytes.get(req.peer) ?? 0) + g.maxBytes)
      if (++granted === messages) { controller.abort(); finish() }
      await Promise.resolve()
      g.release(g.maxBytes, 0)
    }
  }
  const loops = peers.flatMap(p => Array.from({ length: p.depth ?? 2 }, async () => await loop(p)))
  await done
  await Promise.all(loops)
  return { bytes, order }
}

const share = (bytes: Map<string, number>, who: (peer: string) => boolean): number => {
  let mine = 0
  let total = 0
  for (const [p, n] of bytes) { total += n; if (who(p)) mine += n }
  return mine / total
}

describe('upload scheduler', () => {
  it('shares equally among backlogged peers however many requests each keeps waiting', async () => {
    const s = new UploadScheduler({ congestion: false, slots: 1, shareWindowMs: 600_000 })
    const peers = Array.from({ length: 8 }, (_, i) => ({ peer: `p${i}`, group: `g${i}`, depth: i % 2 === 0 ? 1 : 12 }))
    const { bytes } = await run(s, peers, 800)
    for (const p of peers) assert.ok(Math.abs(share(bytes, x => x === p.peer) - 1 / 8) < 0.01, `${p.peer}: ${share(bytes, x => x === p.peer)}`)
  })

  it('serves first come, first served when fairness is off (the greedy peer wins)', async () => {
    const s = new UploadScheduler({ fair: false, congestion: false, slots: 1 })
    const { bytes } = await run(s, [{ peer: 'greedy', group: 'g0', depth: 12 }, { peer: 'modest', group: 'g1', depth: 1 }], 260)
    assert.ok(share(bytes, p => p === 'greedy') > 0.8)
  })

  it('holds a heavily weighted peer to the cap while others wait', async () => {
    const s = new UploadScheduler({ congestion: false, slots: 1, maxShare: 0.25, shareWindowMs: 600_000 })
    const peers = [{ peer: 'heavy', group: 'gh', weight: 20, depth: 4 }, ...Array.from({ length: 5 }, (_, i) => ({ peer: `p${i}`, group: `g${i}` }))]
    const { bytes } = await run(s, peers, 600)
    const heavy = share(bytes, p => p === 'heavy')
    assert.ok(heavy <= 0.25 + 0.01, `heavy peer got ${heavy}`)
    assert.ok(heavy >= 0.2, `heavy peer got ${heavy}: the cap is a ceiling, its weight still counts up to it`)
  })

  it('gives a Sybil with 8 identities in one group the share of one peer', async () => {
    const s = new UploadScheduler({ congestion: false, slots: 1, shareWindowMs: 600_000 })
    const honest = Array.from({ length: 8 }, (_, i) => ({ peer: `h${i}`, group: `ip4:10.0.${i}.0/24` }))
    const sybil = Array.from({ length: 8 }, (_, i) => ({ peer: `s${i}`, group: 'ip4:10.9.9.0/24', weight: 4 }))
    const { bytes } = await run(s, [...honest, ...sybil], 900)
    const sybilShare = share(bytes, p => p.startsWith('s'))
    // nine groups: one ninth each; the Sybil's weights do not add up either (its group weighs as its heaviest)
    assert.ok(sybilShare <= 0.25 + 0.01, `Sybil group got ${sybilShare}`)
    for (const h of honest) assert.ok(share(bytes, p => p === h.peer) > 0.07)
    const fifo = await run(new UploadScheduler({ fair: false, congestion: false, slots: 1 }), [...honest, ...sybil], 900)
    assert.ok(share(fifo.bytes, p => p.startsWith('s')) > 0.4, 'without the scheduler the Sybil takes about half')
  })

  it('serves a higher priority class first', async () => {
    const s = new UploadScheduler({ congestion: false, slots: 1, classes: 2 })
    const order: string[] = []
    // the slot is taken; bulk requests queue, then a critical one arrives last
    const first = await s.acquire({ peer: 'x', group: 'gx', priority: 1 })
    const waits = [
      ...['b1', 'b2', 'b3'].map(async p => { const g = await s.acquire({ peer: p, group: `g${p}`, priority: 1 }); order.push(p); g.release(1000, 0) }),
      (async () => { const g = await s.acquire({ peer: 'c', group: 'gc', priority: 0 }); order.push('c'); g.release(1000, 0) })()
    ]
    first.release(1000, 0)
    await Promise.all(waits)
    assert.equal(order[0], 'c')
    assert.deepEqual(order.slice(1).sort(), ['b1', 'b2', 'b3'])
  })

  it('drops a waiting request when its signal aborts, and rejects what waits when closed', async () => {
    const s = new UploadScheduler({ congestion: false, slots: 1 })
    const held = await s.acquire({ peer: 'a', group: 'g' })
    const controller = new AbortController()
    const cancelled = s.acquire({ peer: 'b', group: 'h', signal: controller.signal })
    const closed = s.acquire({ peer: 'c', group: 'i' })
    assert.equal(s.backlog, 2)
    controller.abort()
    await assert.rejects(cancelled, { code: 'ERR_ABORTED' })
    assert.equal(s.backlog, 1)
    s.close()
    await assert.rejects(closed, { code: 'ERR_ABORTED' })
    held.release(0, 0)
  })

  it('paces grants to the upload limit', async () => {
    const s = new UploadScheduler({ congestion: false, slots: 4, rate: 2_000_000, messageBytes: 100_000, maxMessageBytes: 100_000 })
    const t0 = performance.now()
    await run(s, [{ peer: 'a', group: 'g' }, { peer: 'b', group: 'h' }], 10)
    // 1 MB at 2 MB/s, less the credit of an idle link (a quarter second): a lower bound only (a busy machine
    // is slower, never faster)
    assert.ok(performance.now() - t0 >= 200, `10 x 100 kB at 2 MB/s took ${(performance.now() - t0).toFixed(0)} ms`)
  })

  it('lets a lone request on an idle link spend the credit it saved in one message, and no more', async () => {
    const rate = 1_000_000
    const s = new UploadScheduler({ congestion: false, slots: 4, rate, maxMessageBytes: 4 * 1024 * 1024 })
    // idle since it was made: a quarter second's worth of credit, and at least 256 KiB
    await new Promise(resolve => setTimeout(resolve, 300))
    const first = await s.acquire({ peer: 'b', group: 'gb' })
    assert.ok(first.maxBytes > 50_000, `alone, more than a 50 ms slice: ${first.maxBytes}`)
    // a larger message, paid for afterwards, would hold up whatever request (a critical one) came next
    assert.ok(first.maxBytes <= 256 * 1024, `the credit at most: ${first.maxBytes}`)
    first.release(first.maxBytes, 0)
  })
})
