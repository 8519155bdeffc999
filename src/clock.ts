import { AbortError } from './errors.js'

/**
 * Time as the parts that pace, wait and time out see it (ms, monotonic): the fetcher, the upload scheduler and the
 * token bucket take one, so tests pass a fake one and drive them without waiting.
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
