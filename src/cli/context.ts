import type { NodeClient, NodeClientOptions } from '../daemon/index.js'
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
 * What a command gets: its output streams, global options, the store opened on first use (its capacity from
 * --capacity, else the repository's config.json, as for the library), and the node it talks to.
 */
export class CommandContext {
  private store: Blockstore | undefined
  private client: NodeClient | undefined
  constructor (
    readonly options: GlobalOptions,
    readonly stdout: NodeJS.WritableStream = process.stdout,
    readonly stderr: NodeJS.WritableStream = process.stderr
  ) {}

  openStore (): Blockstore {
    if (this.store === undefined) {
      const repo = resolveRepo(this.options.repo)
      this.store = createStore({ repo, capacity: this.options.capacity === undefined ? undefined : parseSize(this.options.capacity, '--capacity') })
    }
    return this.store
  }

  /**
   * The node this command talks to: the daemon running on the repository, else a node of the command's own started
   * with `node` when first needed (see openNodeClient); closed with the context.
   */
  async nodeClient (node?: NodeClientOptions['node']): Promise<NodeClient> {
    const capacity = this.options.capacity === undefined ? undefined : parseSize(this.options.capacity, '--capacity')
    // the network stack loads here, for the commands that start a node of their own, not for every command
    const { openNodeClient } = await import('../daemon/client.js')
    this.client ??= await openNodeClient({ repo: this.options.repo, node: node === undefined ? undefined : { ...node, capacity } })
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
