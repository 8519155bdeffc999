/**
 * Shared settings of the fuzz suite (test/fuzz/*.test.ts).
 *
 *   FUZZ_SEED      seed of every property (default a constant, so CI runs are reproducible; `random` picks one
 *                  and prints it, so a failure can be replayed with FUZZ_SEED=<that number>)
 *   FUZZ_RUNS      runs of a property of weight 1 (default DEFAULT_RUNS: the whole suite in well under 20 s on
 *                  two cores); `FUZZ_RUNS=1000000` is the long mode, hours
 *   FUZZ_TIME_LIMIT_MS  in long mode, stop each property after this long and count it a pass (fast-check's
 *                  interruptAfterTimeLimit), so a long run spreads its time over every property; default none
 *
 * fast-check prints the seed, the path and the shrunk counterexample of a failure; replay one with
 * FUZZ_SEED=<seed> and the same FUZZ_RUNS.
 */
import type { Parameters } from 'fast-check'

/** Runs of a weight-1 property in the default (CI) mode. */
export const DEFAULT_RUNS = 100
const DEFAULT_SEED = 0x5eed_c0de

function envInt (name: string): number | undefined {
  const text = process.env[name]
  if (text === undefined || text.trim() === '') return undefined
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(text)}`)
  return n
}

function seedFromEnv (): number {
  const text = process.env.FUZZ_SEED
  if (text === 'random') {
    const seed = (Date.now() ^ (process.pid << 16)) | 0
    process.stderr.write(`fuzz: FUZZ_SEED=${seed}\n`)
    return seed
  }
  return envInt('FUZZ_SEED') ?? DEFAULT_SEED
}

export const FUZZ_SEED = seedFromEnv()
export const FUZZ_RUNS = Math.max(1, envInt('FUZZ_RUNS') ?? DEFAULT_RUNS)
/** More runs than the default: a long fuzzing session rather than a CI check. */
export const LONG_MODE = FUZZ_RUNS > DEFAULT_RUNS
const TIME_LIMIT_MS = envInt('FUZZ_TIME_LIMIT_MS')

/**
 * A call of a decoder on one input (a few KiB) must return or throw having spent at most this much CPU time (of its
 * own thread, which other processes on a loaded machine do not add to, as they do to the wall clock): nothing
 * legitimate comes near it (microseconds to a few milliseconds), so only super-linear work trips it.
 */
export const DECODE_CPU_LIMIT_MS = 2000

/**
 * fast-check parameters of one property: the shared seed and FUZZ_RUNS scaled by `weight` (an expensive property,
 * such as one that signs or writes a file per run, takes a smaller share: weight 0.2 runs a fifth as often).
 */
export function fuzzParams<T = unknown> (weight = 1): Parameters<T> {
  const params: Parameters<T> = { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(FUZZ_RUNS * weight)) }
  if (LONG_MODE && TIME_LIMIT_MS !== undefined) {
    params.interruptAfterTimeLimit = TIME_LIMIT_MS
    params.markInterruptAsFailure = false
  }
  return params
}
