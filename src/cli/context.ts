import { createStore, resolveRepo } from '../store/index.js'
import type { Blockstore } from '../store/interface.js'
import { parseSize } from './args.js'
import { ProgressBar } from './progress.js'

/** Options every command accepts. */
export interface GlobalOptions {
  repo?: string
  capacity?: string
  json: boolean
  quiet: boolean
}

/**
 * What a command gets: its output streams, global options, and the store opened on first use (its capacity from
 * --capacity, else the repository's config.json, as for the library).
 */
export class CommandContext {
  private store: Blockstore | undefined
  constructor (readonly options: GlobalOptions, readonly stdout: NodeJS.WritableStream = process.stdout) {}

  openStore (): Blockstore {
    if (this.store === undefined) {
      const repo = resolveRepo(this.options.repo)
      this.store = createStore({ repo, capacity: this.options.capacity === undefined ? undefined : parseSize(this.options.capacity, '--capacity') })
    }
    return this.store
  }

  progress (label: string): ProgressBar {
    return new ProgressBar(label, this.options.quiet)
  }

  print (line: string): void {
    this.stdout.write(line + '\n')
  }

  printJson (value: unknown): void {
    this.stdout.write(JSON.stringify(value) + '\n')
  }

  async close (): Promise<void> {
    await this.store?.close()
  }
}
