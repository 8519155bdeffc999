import { formatBytes } from './args.js'

/**
 * A one-line progress bar on stderr, redrawn at most 10 times a second; silent when stderr is not a TTY
 * or with --quiet, so logs and pipes stay clean.
 */
export class ProgressBar {
  private readonly enabled: boolean
  private readonly started = Date.now()
  private last = 0
  private drawn = false

  constructor (private readonly label: string, quiet: boolean, stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = !quiet && stream.isTTY === true
    this.stream = stream
  }

  private readonly stream: NodeJS.WriteStream

  /** Draw `done` of `total` (a total not known yet: the amount and rate alone, an empty bar). */
  update (done: number, total: number | undefined, unit: 'bytes' | 'items' = 'bytes'): void {
    if (!this.enabled) return
    const now = Date.now()
    if (now - this.last < 100 && (total === undefined || done < total)) return
    this.last = now
    const width = 30
    const frac = total !== undefined && total > 0 ? Math.min(1, done / total) : 0
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, ' ')
    const secs = Math.max(0.001, (now - this.started) / 1000)
    const of = total === undefined ? '' : `/${unit === 'bytes' ? formatBytes(total) : total}`
    const amount = unit === 'bytes' ? `${formatBytes(done)}${of} ${formatBytes(done / secs)}/s` : `${done}${of}`
    const pct = total === undefined ? '   ?' : `${(frac * 100).toFixed(0).padStart(3)}%`
    this.stream.write(`\r${this.label} [${bar}] ${pct} ${amount}\x1b[K`)
    this.drawn = true
  }

  done (): void {
    if (this.enabled && this.drawn) this.stream.write('\r\x1b[K')
  }
}
