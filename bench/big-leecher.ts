/**
 * Child of bench/swarm.ts's large 1 -> 1 run: a new node in a process of its own fetches one root from one seeder
 * and prints, as one JSON line, how long it took and what it cost this process: peak RSS (the kernel's high-water
 * mark, so nothing between samples is missed), the peak of its anonymous part (heap and buffers, sampled every
 * 100 ms: the rest of RSS is LMDB's memory-mapped file, page cache the kernel takes back under pressure) and CPU
 * seconds, in all and by thread (threadCpuSeconds).
 * `node dist/bench/big-leecher.js REPO SEEDER_MULTIADDR CID`
 */
import { readdirSync, readFileSync } from 'node:fs'
import { CID } from 'multiformats/cid'
import { createNode } from '../src/node/index.js'

/** This process's anonymous resident memory in bytes, from /proc (Linux). */
function rssAnon (): number {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find(l => l.startsWith('RssAnon:'))
  return Number(line?.split(/\s+/)[1] ?? NaN) * 1024
}

/** CPU seconds of each of this process's threads by name (Linux): the main thread, LMDB's writer, GC helpers, libuv's pool. */
function threadCpu (): Record<string, number> {
  const out: Record<string, number> = {}
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()
      const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100
    } catch {} // a thread that ended meanwhile
  }
  return out
}

const [repo, seeder, root] = process.argv.slice(2)
if (repo === undefined || seeder === undefined || root === undefined) throw new Error('usage: big-leecher REPO SEEDER_MULTIADDR CID')
const node = await createNode({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [seeder] })
try {
  let peakAnon = rssAnon()
  const sampler = setInterval(() => { peakAnon = Math.max(peakAnon, rssAnon()) }, 100)
  const cpu0 = process.cpuUsage()
  const threads0 = threadCpu()
  const r = await node.fetch(CID.parse(root))
  const cpu = process.cpuUsage(cpu0)
  const threads = Object.fromEntries(Object.entries(threadCpu()).map(([name, s]) => [name, Math.round((s - (threads0[name] ?? 0)) * 100) / 100]))
  clearInterval(sampler)
  peakAnon = Math.max(peakAnon, rssAnon())
  const bytes = Object.values(r.sources).reduce((a, b) => a + b, 0)
  console.log(JSON.stringify({
    seconds: r.seconds,
    bytes,
    mbps: bytes / 1e6 / r.seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    // resourceUsage().maxRSS is in KiB
    peakRssMB: process.resourceUsage().maxRSS * 1024 / 1e6,
    peakAnonMB: peakAnon / 1e6,
    threadCpuSeconds: threads
  }))
} finally {
  await node.stop()
}
