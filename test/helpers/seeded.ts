/** Uniform in (0, 1] from a seeded xorshift32: reproducible noise for tests of what noise does to a report. */
export function seededUniform (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return (x + 1) / 4294967296
  }
}
