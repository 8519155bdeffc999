import { InvalidOptionError } from '../errors.js'
import type { PeriodName } from './constants.js'

const HOUR = 3600_000
const DAY = 24 * HOUR

export const PERIOD_NAMES: readonly PeriodName[] = ['hour', 'day', 'week', 'month']

export function parsePeriod (text: unknown, what = 'period'): PeriodName {
  if (typeof text === 'string' && (PERIOD_NAMES as readonly string[]).includes(text)) return text as PeriodName
  throw new InvalidOptionError(`${what} must be one of ${PERIOD_NAMES.join(', ')}, got ${JSON.stringify(text)}`)
}

/** Start (ms since the epoch, UTC) of the period holding `t`: hours, days, ISO weeks (from Monday), months. */
export function periodStart (period: PeriodName, t: number): number {
  if (period === 'hour') return Math.floor(t / HOUR) * HOUR
  const day = Math.floor(t / DAY) * DAY
  if (period === 'day') return day
  if (period === 'week') return day - ((new Date(day).getUTCDay() + 6) % 7) * DAY
  const d = new Date(t)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

/** Start of the period after the one starting at `start`. */
export function periodEnd (period: PeriodName, start: number): number {
  if (period === 'hour') return start + HOUR
  if (period === 'day') return start + DAY
  if (period === 'week') return start + 7 * DAY
  const d = new Date(start)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
}

/** Length of a period in hours (a month: the one starting at `start`). */
export function periodHours (period: PeriodName, start: number): number {
  return (periodEnd(period, start) - start) / HOUR
}

/** A period as people read it: 2026-11-23 14:00, 2026-11-23, week of 2026-11-23, 2026-11. */
export function periodLabel (period: PeriodName, start: number): string {
  const iso = new Date(start).toISOString()
  if (period === 'hour') return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`
  if (period === 'day') return iso.slice(0, 10)
  if (period === 'week') return `week of ${iso.slice(0, 10)}`
  return iso.slice(0, 7)
}

export { HOUR as HOUR_MS }
