import { spawn } from 'node:child_process'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'

export const CMESH_BIN = fileURLToPath(new URL('../../../bin/cmesh.js', import.meta.url))

export interface CliResult { code: number, stdout: string, stderr: string, stdoutBytes: Buffer }

export interface CliRunOptions {
  /** Node's own options, before the script (`--import ...`). */
  nodeArgs?: string[]
  /** The child's working directory (default: this process's). */
  cwd?: string
}

/**
 * Run the real `cmesh` binary in a child process (stdin closed, stderr not a TTY), on dist/src's modules unless
 * `env` says CMESH_NO_BUNDLE: '0' (the bundle).
 */
export async function runCli (args: string[], env: Record<string, string> = {}, options: CliRunOptions = {}): Promise<CliResult> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...options.nodeArgs ?? [], CMESH_BIN, ...args], {
      env: { ...process.env, CMESH_NO_BUNDLE: '1', ...env },
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', d => out.push(d))
    child.stderr.on('data', d => err.push(d))
    child.on('error', reject)
    child.on('close', code => {
      const stdoutBytes = Buffer.concat(out)
      resolve({ code: code ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes })
    })
  })
}

/** A stream that keeps what is written to it. */
class Captured extends Writable {
  readonly chunks: Buffer[] = []
  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk))
    callback()
  }
}

/**
 * Run the CLI's `main` in this process, stdout and stderr captured: the same parsing, command and error lines as
 * the binary, without starting a process (and loading the modules again) for each check. For the checks of what a
 * command prints and how it fails; every command keeps a test that runs the real binary (runCli), which adds the
 * process itself: exit code, stdout flushed, bin/cmesh.js.
 */
export async function runMain (args: string[]): Promise<CliResult> {
  const { main } = await import('../../src/cli/main.js')
  const out = new Captured()
  const err = new Captured()
  const code = await main(args, out, err)
  const stdoutBytes = Buffer.concat(out.chunks)
  return { code, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err.chunks).toString('utf8'), stdoutBytes }
}
