/** Time as a fetch sees it (ms): tests pass a fake one, so the parts can be driven without waiting. */
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
