import type { Command } from './command.js'
import type { CommandEntry } from './registry.js'

/** Help text is wrapped to fit a terminal of this many columns. */
export const HELP_COLUMNS = 100

/** The words of `text` in lines of at most `width` columns (a longer word has a line of its own). */
export function wrap (text: string, width: number, words = text.split(/\s+/)): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of words.filter(w => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(line)
  return lines
}

/** A usage line's words: `[--listen MULTIADDR]...` stays whole. */
export function usageWords (usage: string): string[] {
  return usage.match(/(?:\[[^\]]*\]|[^\s[])+/g) ?? []
}

/** `head` then `text` wrapped beside it: later lines are indented to where the text began. */
function hanging (head: string, text: string, words?: string[]): string[] {
  return wrap(text, HELP_COLUMNS - head.length, words).map((l, i) => (i === 0 ? head : ' '.repeat(head.length)) + l)
}

const GLOBAL_HELP = [
  'global options:',
  '  --repo <dir>        repository (default: $CMESH_REPO, else ~/.cmesh)',
  '  --capacity <size>   store capacity, e.g. 10GB (default: repo config.json, else unlimited)',
  '  --json              machine-readable output',
  '  -q, --quiet         no progress bar',
  '  -h, --help          help (cmesh <command> --help: that command\'s options)',
  '  --version           print the version'
]

/** `cmesh --help`: one line a command. */
export function mainHelp (commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map(c => c.name.length))
  return [
    'usage: cmesh <command> [options]',
    '',
    'commands:',
    ...commands.flatMap(c => hanging(`  ${c.name.padEnd(width)}  `, c.brief)),
    '',
    ...GLOBAL_HELP,
    ''
  ].join('\n')
}

/** `cmesh <command> --help`: its usage and what it does, wrapped. */
export function commandHelp (command: Command): string {
  return [
    ...hanging('usage: cmesh ', command.usage, usageWords(command.usage)),
    ...hanging('  ', command.summary),
    ''
  ].join('\n')
}
