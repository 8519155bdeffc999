import { setTimeout as delay } from 'node:timers/promises'

export interface WaitForOptions {
  /** What is awaited, for the error when it never comes. */
  what?: string
  /** Give up after this long: a generous bound for a loaded machine, never a threshold a test asserts. @default 60 s */
  timeoutMs?: number
  /** Poll interval. @default 20 ms */
  intervalMs?: number
}

/**
 * Wait until `condition` holds (returns a truthy value, which is returned). Tests wait for the event they need
 * instead of sleeping a fixed time: on an idle machine this returns at once, on a loaded one it waits longer.
 */
export async function waitFor<T> (condition: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000)
  for (;;) {
    const value = await condition()
    if (value !== undefined && value !== null && value !== false && (value as unknown) !== 0 && (value as unknown) !== '') return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'a condition'}`)
    await delay(options.intervalMs ?? 20)
  }
}
