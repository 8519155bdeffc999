import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openNodeClient, type NodeClient, type NodeClientOptions } from '../daemon/index.js'
import { RepoError } from '../errors.js'
import { createStore, resolveRepo } from '../store/index.js'
import type { Blockstore } from '../store/interface.js'
import { parseSize, UsageError } from './args.js'
import { ProgressBar } from './progress.js'

/** Options every command accepts. */
export interface GlobalOptions {
  repo?: string
  capacity?: string
  json: boolean
  quiet: boolean
}

/** What a command gets: its output streams, global options, the store opened on first use, and the node it talks to. */
export class CommandContext {
  private store: Blockstore | undefined
  private client: NodeClient | undefined
  constructor (readonly options: GlobalOptions, readonly stdout: NodeJS.WritableStream = process.stdout, readonly stderr: NodeJS.WritableStream = process.stderr) {}

  /** Capacity from --capacity, else the repo's config.json `capacity` (bytes or "10GB"), else unlimited. */
  private capacity (repo: string): number | undefined {
    if (this.options.capacity !== undefined) return parseSize(this.options.capacity, '--capacity')
    const file = join(repo, 'config.json')
    if (!existsSync(file)) return undefined
    let config: { capacity?: unknown }
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as { capacity?: unknown }
    } catch (err) {
      throw new RepoError(`cannot read ${file}: ${(err as Error).message}`)
    }
    if (config.capacity === undefined) return undefined
    if (typeof config.capacity === 'number') return config.capacity
    if (typeof config.capacity === 'string') return parseSize(config.capacity, `${file} capacity`)
    throw new UsageError(`${file}: capacity must be a number of bytes or a size like "10GB"`)
  }

  openStore (): Blockstore {
    if (this.store === undefined) {
      const repo = resolveRepo(this.options.repo)
      this.store = createStore({ repo, capacity: this.capacity(repo) })
    }
    return this.store
  }

  /**
   * The node this command talks to: the daemon running on the repository, else a node of the command's own started
   * with `node` when first needed (see openNodeClient); closed with the context.
   */
  async nodeClient (node?: NodeClientOptions['node']): Promise<NodeClient> {
    this.client ??= await openNodeClient({ repo: this.options.repo, node })
    return this.client
  }

  progress (label: string): ProgressBar {
    return new ProgressBar(label, this.options.quiet, this.stderr as NodeJS.WriteStream)
  }

  print (line: string): void {
    this.stdout.write(line + '\n')
  }

  printJson (value: unknown): void {
    this.stdout.write(JSON.stringify(value) + '\n')
  }

  async close (): Promise<void> {
    try {
      await this.client?.close()
    } finally {
      await this.store?.close()
    }
  }
}

/** A node of the command's own, as the network options of the command line ask (`--listen`, `--bootstrap`, `--no-mdns`). */
export function networkOptions (values: Record<string, unknown>, listen?: string[]): NonNullable<NodeClientOptions['node']> {
  return {
    listen: (values.listen as string[] | undefined) ?? listen,
    bootstrap: values.bootstrap as string[] | undefined,
    mdns: values['no-mdns'] !== true
  }
}
