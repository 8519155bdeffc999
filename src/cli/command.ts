import type { ParseArgsConfig } from 'node:util'
import type { CommandContext } from './context.js'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

/** One CLI command: its options (node:util parseArgs form) and what it does. */
export interface Command {
  name: string
  summary: string
  usage: string
  options: OptionSpec
  run: (ctx: CommandContext, values: Record<string, string | boolean | string[] | undefined>, positionals: string[]) => Promise<number | void>
}
