/**
 * Child processes of a benchmark that hosts its nodes in several processes (bench/routing.ts; bench/crowd.ts and
 * bench/propagation.ts have their own older copies of the same pattern): fork them, send a command and await
 * the matching reply, and stop them all when the benchmark ends, fails or is interrupted, so no child outlives it.
 * The child side: `exitWithParent` makes a child stop its nodes and exit when the parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process'

/** A reply that reports a failed command: `{ type: 'error', cmd, message }` for the command's `idx`. */
export interface ErrorReply { type: 'error', idx?: number, cmd: string, message: string }

interface Waiter<R> {
  child: ChildProcess
  match: (r: R) => boolean
  resolve: (r: R) => void
  reject: (err: Error) => void
}

export class ChildPool<C extends { cmd: string }, R extends { type: string }> {
  readonly children: ChildProcess[] = []
  private readonly waiters = new Set<Waiter<R>>()
  private readonly onExit = (): void => { this.kill() }
  private readonly onSignal = (): void => {
    this.kill()
    process.exit(130)
  }

  /** Fork `count` children of `script` (a compiled .js file); their output goes to this process's stdout and stderr. */
  constructor (script: string, count: number) {
    process.on('exit', this.onExit)
    process.on('SIGINT', this.onSignal)
    process.on('SIGTERM', this.onSignal)
    for (let i = 0; i < count; i++) {
      const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      child.on('message', (r: R) => {
        for (const w of this.waiters) {
          if (w.child === child && w.match(r)) {
            this.waiters.delete(w)
            w.resolve(r)
          }
        }
      })
      // a child that dies fails what was asked of it at once, rather than at the request's timeout
      child.on('exit', code => {
        for (const w of this.waiters) {
          if (w.child !== child) continue
          this.waiters.delete(w)
          w.reject(new Error(`bench child ${child.pid ?? '?'} exited (code ${code ?? 'signal'})`))
        }
      })
      this.children.push(child)
    }
  }

  /** The child that hosts node `idx` (nodes are spread over the children in turn). */
  host (idx: number): ChildProcess {
    return this.children[idx % this.children.length]!
  }

  /**
   * Send `cmd` to `child` and resolve with the first reply of type `type` for the same `idx` (when the command has
   * one); an error reply for this command, no answer in `ms`, or the child's exit rejects.
   */
  async request<T extends R> (child: ChildProcess, cmd: C, type: R['type'], ms = 120_000): Promise<T> {
    const idx = (cmd as { idx?: number }).idx
    const sameIdx = (r: R): boolean => idx === undefined || (r as { idx?: number }).idx === idx
    let timer: ReturnType<typeof setTimeout> | undefined
    const reply = new Promise<R>((resolve, reject) => {
      const waiter: Waiter<R> = {
        child,
        match: r => sameIdx(r) && (r.type === type || (r.type === 'error' && (r as unknown as ErrorReply).cmd === cmd.cmd)),
        resolve,
        reject
      }
      timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`no ${type} reply to ${cmd.cmd} within ${ms} ms`))
      }, ms)
      this.waiters.add(waiter)
    })
    child.send(cmd)
    try {
      const r = await reply
      if (r.type === 'error') throw new Error(`${cmd.cmd} failed: ${(r as unknown as ErrorReply).message}`)
      return r as T
    } finally {
      clearTimeout(timer)
    }
  }

  /** Ask every child to stop (`shutdown`), wait up to `graceMs` for each, then kill what is left. */
  async shutdown (shutdown: C, graceMs = 15_000): Promise<void> {
    await Promise.all(this.children.map(async child => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      try {
        child.send(shutdown)
      } catch {}
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, graceMs).unref())])
    }))
    this.kill()
    process.off('exit', this.onExit)
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }

  /** Kill every child still running (each by its own pid). */
  kill (): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
}

/** In a child: when the parent disconnects (ended, crashed or killed), run `stop` and exit. */
export function exitWithParent (stop: () => Promise<unknown>): void {
  process.on('disconnect', () => {
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    void stop().catch(() => {}).then(() => process.exit(0))
  })
}
