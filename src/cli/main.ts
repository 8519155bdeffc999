import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { CmeshError } from '../errors.js'
import { UsageError } from './args.js'
import type { OptionSpec } from './command.js'
import { CommandContext } from './context.js'
import { commandHelp, mainHelp } from './help.js'
import { COMMANDS } from './registry.js'

const GLOBAL_OPTIONS: OptionSpec = {
  repo: { type: 'string' },
  capacity: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' }
}

/** Pull the command name out of argv, skipping global options and their values. */
function splitCommand (argv: string[]): { name: string | undefined, rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (a === '--repo' || a === '--capacity') { i++; continue }
    if (a.startsWith('-')) continue
    return { name: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] }
  }
  return { name: undefined, rest: argv }
}

/**
 * `--offset -5` as `--offset=-5`: parseArgs takes a value starting with a dash for an option (and calls it
 * "ambiguous"), so a negative number reaches the option's own check, which says what it expects.
 */
function joinNegativeValues (args: string[], options: OptionSpec): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    const next = args[i + 1]
    if (a.startsWith('--') && options[a.slice(2)]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`)
      i++
    } else {
      out.push(a)
    }
  }
  return out
}

/** This package's version, from its package.json. */
export function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/**
 * The directory the user ran the command from when npm started it (`npm run -s cmesh -- ...` runs the script in the
 * package's directory and passes the caller's in INIT_CWD); undefined otherwise.
 */
export function callerDirectory (env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.npm_lifecycle_event === 'cmesh' && env.INIT_CWD !== undefined && env.INIT_CWD !== '' ? env.INIT_CWD : undefined
}

/**
 * Run the CLI; returns the exit code. Errors become one line on stderr, never a stack trace. Only the module of the
 * command that runs is loaded.
 */
export async function main (argv: string[], stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const { name, rest } = splitCommand(argv)
  const helpAsked = argv.includes('--help') || argv.includes('-h')
  if (name === undefined && argv.includes('--version')) {
    stdout.write(`cmesh ${version()}\n`)
    return 0
  }
  if (name === undefined || name === 'help') {
    ;(helpAsked || name === 'help' ? stdout : stderr).write(mainHelp(COMMANDS))
    return name === undefined && !helpAsked ? 2 : 0
  }
  const entry = COMMANDS.find(c => c.name === name)
  let ctx: CommandContext | undefined
  try {
    if (entry === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)} (see cmesh --help)`)
    const command = await entry.load()
    const options = { ...GLOBAL_OPTIONS, ...command.options }
    let parsed
    try {
      parsed = parseArgs({ args: joinNegativeValues(rest, options), options, allowPositionals: true, strict: true })
    } catch (err) {
      throw new UsageError(`${command.name}: ${(err as Error).message.split('\n')[0]!}`)
    }
    const values = parsed.values as Record<string, string | boolean | undefined>
    if (values.help === true) {
      stdout.write(commandHelp(command))
      return 0
    }
    ctx = new CommandContext(
      { repo: values.repo as string | undefined, capacity: values.capacity as string | undefined, json: values.json === true, quiet: values.quiet === true },
      stdout,
      stderr
    )
    const code = await command.run(ctx, values, parsed.positionals)
    return code ?? 0
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0
    if (err instanceof CmeshError) {
      stderr.write(`cmesh: ${err.message} [${err.code}]\n`)
      return err instanceof UsageError ? 2 : 1
    }
    const e = err as NodeJS.ErrnoException
    stderr.write(`cmesh: ${e.message ?? String(err)}${e.code !== undefined ? ` [${e.code}]` : ''}\n`)
    if (process.env.CMESH_DEBUG !== undefined) stderr.write(`${e.stack ?? ''}\n`)
    return 1
  } finally {
    await ctx?.close()
  }
}
