/** Shared output of the benchmarks: a table for people, one JSON document with `--json`. */

export interface BenchArgs {
  /** Positional arguments. */
  _: string[]
  [option: string]: string | number | boolean | string[]
}

/** `--name value`, `--name=value` and bare `--flag`; `--json` is always a flag. */
export function parseBenchArgs (argv: string[], defaults: Record<string, string | number | boolean> = {}): BenchArgs {
  const out: BenchArgs = { ...defaults, _: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined]
      if (v !== undefined) out[k] = v
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--') && typeof defaults[k] !== 'boolean' && k !== 'json') out[k] = argv[++i]!
      else out[k] = true
    } else {
      out._.push(a)
    }
  }
  return out
}

export function formatTable (rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '(no rows)'
  const cols = [...new Set(rows.flatMap(r => Object.keys(r)))]
  const cell = (v: unknown): string => v === undefined || v === null ? '' : String(v)
  const width = cols.map(c => Math.max(c.length, ...rows.map(r => cell(r[c]).length)))
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(width[i]!)).join('  ').trimEnd()
  return [line(cols), line(width.map(w => '-'.repeat(w))), ...rows.map(r => line(cols.map(c => cell(r[c]))))].join('\n')
}

/** Print the table, then the JSON line; with `jsonOnly` print only the JSON so it can be piped. */
export function printTable (rows: Array<Record<string, unknown>>, jsonOnly: boolean, json: unknown): void {
  if (!jsonOnly) {
    console.log(formatTable(rows))
    console.log()
  }
  console.log(JSON.stringify(json))
}
