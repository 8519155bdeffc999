import { AbortError } from '../../errors.js'

/**
 * Time as the upload side sees it (ms, monotonic): tests pass a fake one, so pacing and rate limits can be driven
 * without waiting. The same shape as the fetcher's clock (src/sync/fetch/clock.ts), so one fake serves both.
 */
export interface Clock {
  now: () => number
  setTimeout: (callback: () => void, ms: number) => unknown
  clearTimeout: (timer: unknown) => void
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: timer => clearTimeout(timer as NodeJS.Timeout | undefined)
}

/** Wait `ms` on `clock`; rejects with AbortError (its timer cleared) when `signal` aborts. */
export async function sleep (clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) throw new AbortError()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer)
      reject(new AbortError())
    }
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
