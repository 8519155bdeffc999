/**
 * `cmesh daemon` processes of a benchmark, on loopback without mDNS, as users start them: each is started with
 * `startDaemon` and stopped with the others by `stopDaemons` (SIGTERM, then waiting for each to exit).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The command, as bin/cmesh.js runs it (the bundle). */
export const CMESH_BIN = fileURLToPath(new URL('../../bin/cmesh.js', import.meta.url))

const running: ChildProcess[] = []

/** A daemon on `repo` with `extra` options (`--upload-limit`...); resolves once it printed its addresses. */
export async function startDaemon (repo: string, extra: string[] = []): Promise<{ addr: string, pid: number }> {
  const child = spawn(
    process.execPath,
    [CMESH_BIN, 'daemon', '--repo', repo, '--json', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  )
  running.push(child)
  const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
  return { addr: (JSON.parse(line) as { addrs: string[] }).addrs[0]!, pid: child.pid! }
}

/** Stop every daemon started so far, and wait for each to exit. */
export async function stopDaemons (): Promise<void> {
  const all = running.splice(0)
  for (const d of all) d.kill('SIGTERM')
  await Promise.all(all.map(async d => d.exitCode === null && d.signalCode === null ? await once(d, 'exit') : undefined))
}
