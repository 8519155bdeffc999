/**
 * `rsync -z` over a real socket, for bench/update.ts: an rsync daemon on 127.0.0.1 holds a copy of the old
 * version in a writable module and the new version is pushed to it, so rsync runs as it does between two hosts
 * (delta transfer with block checksums, and compression; a local copy would send whole files, uncompressed).
 */
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface RsyncZResult {
  /** "Total bytes sent" by the pushing side: file list, literal data and match tokens, compressed. */
  sent: number
  /** "Total bytes received" by the pushing side: the receiver's block checksums and acknowledgements. */
  received: number
  /** "Literal data": bytes not matched against the old copy, before compression. */
  literal: number
}

/**
 * Options of the push. -c: npm tarballs give every file the same mtime, so without it rsync's size+mtime quick
 * check skips files changed at equal size (typescript 5.8.2 -> 5.8.3 has one) and the copy ends up wrong.
 * --no-whole-file: delta transfer (rsync's default over a socket already; said so it cannot silently change).
 * -z negotiates the best compressor both sides have: zstd level 3 with rsync 3.2.7 on both ends.
 */
export const RSYNC_Z_ARGS = ['-rzc', '--no-whole-file', '--stats']

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for rsync to bind). */
async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => server.close(resolve))
  return port
}

async function waitForPort (port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`rsync daemon did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

const count = (out: string, label: string): number => {
  const m = new RegExp(`${label}: ([\\d,.]+)`).exec(out)
  if (m === null) throw new Error(`no "${label}" line in rsync --stats output:\n${out}`)
  return Number(m[1]!.replace(/[,.]/g, ''))
}

/**
 * Push `newDir` with `rsync -z` to an rsync daemon on loopback whose module holds a copy of `oldDir`; what
 * crossed the socket. The daemon and its temp dir are gone when this returns.
 */
export async function rsyncZ (oldDir: string, newDir: string): Promise<RsyncZResult> {
  const work = mkdtempSync(join(tmpdir(), 'cmesh-bench-rsyncd-'))
  const dest = join(work, 'mod')
  cpSync(oldDir, dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true })
  // as root the daemon would switch to nobody, who cannot write the module: keep our own ids
  const ids = process.getuid === undefined ? [] : [`uid = ${process.getuid()}`, `gid = ${process.getgid!()}`]
  const conf = join(work, 'rsyncd.conf')
  writeFileSync(conf, [
    'use chroot = no',
    ...ids,
    `log file = ${join(work, 'rsyncd.log')}`,
    '[mod]',
    `path = ${dest}`,
    'read only = no',
    ''
  ].join('\n'))
  const port = await freePort()
  const daemon = spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`, '--address=127.0.0.1', `--port=${port}`], {
    stdio: [
      'ignore',
      'ignore',
      'inherit'
    ]
  })
  const exited = once(daemon, 'exit')
  try {
    await Promise.race([waitForPort(port, 10_000), exited.then(([code]) => { throw new Error(`rsync daemon exited with ${String(code)}`) })])
    const { stdout } = await run('rsync', [...RSYNC_Z_ARGS, newDir.replace(/\/*$/, '/'), `rsync://127.0.0.1:${port}/mod/`], { encoding: 'utf8', maxBuffer: 16 << 20 })
    return { sent: count(stdout, 'Total bytes sent'), received: count(stdout, 'Total bytes received'), literal: count(stdout, 'Literal data') }
  } finally {
    if (daemon.exitCode === null) {
      daemon.kill('SIGTERM')
      await exited
    }
    rmSync(work, { recursive: true, force: true })
  }
}
