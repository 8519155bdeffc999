import { parseArgs } from 'node:util'
import { CmeshError } from '../errors.js'
import { UsageError } from './args.js'
import type { Command, OptionSpec } from './command.js'
import { CommandContext } from './context.js'
import { add } from './commands/add.js'
import { daemon } from './commands/daemon.js'
import { fetch } from './commands/fetch.js'
import { peers } from './commands/peers.js'
import { cat } from './commands/cat.js'
import { exportCommand } from './commands/export.js'
import { gc } from './commands/gc.js'
import { get } from './commands/get.js'
import { importCommand } from './commands/import.js'
import { ls } from './commands/ls.js'
import { pin, unpin } from './commands/pin.js'
import { stat } from './commands/stat.js'
import { verify } from './commands/verify.js'
import { keygen } from './commands/keygen.js'
import { publish } from './commands/publish.js'
import { releases } from './commands/releases.js'
import { trust } from './commands/trust.js'
import { update } from './commands/update.js'
import { collection } from './commands/collection.js'
import { share } from './commands/share.js'
import { browse } from './commands/browse.js'
import { retract } from './commands/retract.js'
import { getUrl } from './commands/get-url.js'
import { proxy } from './commands/proxy.js'
import { report } from './commands/report.js'
import { stats } from './commands/stats.js'

const COMMANDS: Command[] = [
  add,
  get,
  cat,
  ls,
  exportCommand,
  importCommand,
  pin,
  unpin,
  gc,
  stat,
  verify,
  daemon,
  fetch,
  peers,
  keygen,
  publish,
  trust,
  update,
  releases,
  collection,
  share,
  browse,
  retract,
  getUrl,
  proxy,
  report,
  stats
]

const GLOBAL_OPTIONS: OptionSpec = {
  repo: { type: 'string' },
  capacity: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' }
}

function help (): string {
  const width = Math.max(...COMMANDS.map(c => c.usage.length))
  return [
    'usage: cmesh <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map(c => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    '  --repo <dir>        repository (default: $CMESH_REPO, else ~/.cmesh)',
    '  --capacity <size>   store capacity, e.g. 10GB (default: repo config.json, else unlimited)',
    '  --json              machine-readable output',
    '  -q, --quiet         no progress bar',
    ''
  ].join('\n')
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

/** Run the CLI; returns the exit code. Errors become one line on stderr, never a stack trace. */
export async function main (argv: string[], stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const { name, rest } = splitCommand(argv)
  if (name === undefined || name === 'help') {
    ;(argv.includes('--help') || argv.includes('-h') || name === 'help' ? stdout : stderr).write(help())
    return name === undefined && !argv.includes('--help') && !argv.includes('-h') ? 2 : 0
  }
  const command = COMMANDS.find(c => c.name === name)
  let ctx: CommandContext | undefined
  try {
    if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)} (see cmesh --help)`)
    let parsed
    try {
      parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true })
    } catch (err) {
      throw new UsageError(`${command.name}: ${(err as Error).message.split('\n')[0]!}`)
    }
    const values = parsed.values as Record<string, string | boolean | undefined>
    if (values.help === true) {
      stdout.write(`usage: cmesh ${command.usage}\n  ${command.summary}\n`)
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
