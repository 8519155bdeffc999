/**
 * Reads exact byte counts from a stream of buffers (a tar parser's view of the inflated stream). Pieces handed
 * out may be views of the source's buffers; `take` hands out copies, safe to transfer to a chunk worker.
 */
export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private head: Uint8Array = new Uint8Array(0)
  private ended = false
  /** Bytes handed out so far. */
  position = 0

  constructor (source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  private async fill (): Promise<boolean> {
    while (this.head.length === 0) {
      if (this.ended) return false
      const r = await this.iterator.next()
      if (r.done === true) { this.ended = true; return false }
      this.head = r.value
    }
    return true
  }

  /** Up to `n` bytes in one view (fewer when a source buffer ends first); empty at the end of the stream. */
  async some (n: number): Promise<Uint8Array> {
    if (n === 0 || !(await this.fill())) return new Uint8Array(0)
    const out = this.head.subarray(0, Math.min(n, this.head.length))
    this.head = this.head.subarray(out.length)
    this.position += out.length
    return out
  }

  /** Exactly `n` bytes, or fewer only when the stream ends first. */
  async read (n: number): Promise<Uint8Array> {
    const first = await this.some(n)
    if (first.length === n || first.length === 0) return first
    const out = new Uint8Array(n)
    out.set(first)
    let filled = first.length
    while (filled < n) {
      const more = await this.some(n - filled)
      if (more.length === 0) return out.subarray(0, filled)
      out.set(more, filled)
      filled += more.length
    }
    return out
  }

  /** The next `n` bytes as copies in buffers of their own (a chunk worker may take them), stopping early at the end of the stream. */
  async * take (n: number): AsyncGenerator<Uint8Array> {
    let left = n
    while (left > 0) {
      const piece = await this.some(Math.min(left, 1024 * 1024))
      if (piece.length === 0) return
      left -= piece.length
      yield new Uint8Array(piece) // a copy: Buffer.prototype.slice would be a view
    }
  }

  /** Everything left, as copies. */
  async * rest (): AsyncGenerator<Uint8Array> {
    for (;;) {
      const piece = await this.some(Number.MAX_SAFE_INTEGER)
      if (piece.length === 0) return
      yield new Uint8Array(piece) // a copy: Buffer.prototype.slice would be a view
    }
  }
}
