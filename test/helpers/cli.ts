import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const CMESH_BIN = fileURLToPath(new URL('../../../bin/cmesh.js', import.meta.url))

export interface CliResult { code: number, stdout: string, stderr: string, stdoutBytes: Buffer }

export interface CliRunOptions {
  /** Node's own options, before the script (`--import ...`). */
  nodeArgs?: string[]
  /** The child's working directory (default: this process's). */
  cwd?: string
}

/** Run the real `cmesh` binary in a child process (stdin closed, stderr not a TTY). */
export async function runCli (args: string[], env: Record<string, string> = {}, options: CliRunOptions = {}): Promise<CliResult> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...options.nodeArgs ?? [], CMESH_BIN, ...args], {
      env: { ...process.env, ...env },
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
