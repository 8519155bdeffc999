/**
 * Buffers for incoming frames, used again instead of allocated afresh. A 1 MiB blocks message copied into a new
 * buffer costs more than the copy: the allocator maps fresh pages for it and the kernel faults each one in, and
 * those pages go back when the buffer is collected (a 128 MiB download spent a sixth of its receiving CPU there).
 * A buffer from the pool was touched before, so the copy runs at memory speed.
 *
 * A frame from the pool is lent: whoever took it gives it back (release) once no view into it is used any more,
 * and a frame not given back is simply collected. Giving back is idempotent, and a given-back buffer is wiped at
 * once, so a view kept by mistake reads zeros (later, another message's bytes) and fails any check of its bytes
 * instead of working by chance.
 */
export class FramePool {
  private readonly free: ArrayBuffer[] = []
  /** Buffers lent and not yet given back, with the bytes lent of each (what the wipe clears). */
  private readonly lent = new WeakMap<ArrayBuffer, number>()

  /**
   * @param bufferBytes the size of each pooled buffer: a larger frame gets a buffer of its own
   * @param minBytes frames smaller than this get a buffer of their own (small allocations are cheap)
   * @param maxFree buffers kept for reuse at most; more given back are left to the collector
   */
  constructor (readonly bufferBytes: number, readonly minBytes: number, readonly maxFree: number) {}

  /** A buffer of `n` bytes (contents undefined): lent from the pool when `n` fits, else a new one. */
  take (n: number): Uint8Array {
    if (n < this.minBytes || n > this.bufferBytes) return new Uint8Array(n)
    const buffer = this.free.pop() ?? new ArrayBuffer(this.bufferBytes)
    this.lent.set(buffer, n)
    return new Uint8Array(buffer, 0, n)
  }

  /** Whether `frame` is a view into a buffer lent by this pool and not yet given back. */
  owns (frame: Uint8Array): boolean {
    return this.lent.has(frame.buffer as ArrayBuffer)
  }

  /** Give back the buffer `frame` was lent in: every view into it is dead from now on. Anything else is ignored. */
  release (frame: Uint8Array): void {
    const buffer = frame.buffer as ArrayBuffer
    const used = this.lent.get(buffer)
    if (used === undefined) return
    this.lent.delete(buffer)
    // the bytes lent, not the whole buffer: a frame smaller than the buffer would fault in pages nothing used
    new Uint8Array(buffer, 0, used).fill(0)
    if (this.free.length < this.maxFree) this.free.push(buffer)
  }

  /** Buffers waiting to be lent again. */
  get idle (): number {
    return this.free.length
  }
}

/**
 * A frame lent by a FramePool, shared by the parts of a message that use it: each holder adds itself (hold) and
 * lets go (the function hold returns); the frame goes back to the pool once the last one has let go.
 */
export class FrameLoan {
  private holders = 1
  private ended = false

  constructor (private readonly pool: FramePool, private readonly frame: Uint8Array) {}

  /** Another holder: call what this returns, once, when it no longer uses the frame. */
  hold (): () => void {
    this.holders++
    let held = true
    return () => {
      if (!held) return
      held = false
      this.drop()
    }
  }

  /** The lender's own hold ends (the frame's message has been handed on). */
  end (): void {
    if (this.ended) return
    this.ended = true
    this.drop()
  }

  private drop (): void {
    if (--this.holders === 0) this.pool.release(this.frame)
  }
}
