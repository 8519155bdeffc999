/**
 * A download cap for a bench process: every TCP socket of the process reads at most `rate` bytes a second in all,
 * as a home link's downlink would let it. Reads past the budget pause the socket until the budget refills; the
 * kernel's receive buffer then fills and TCP slows the sender, so the cap holds for every peer and protocol
 * (TLS records, yamux, blocks alike). The cap is per process: bench/crowd.ts runs one node per process.
 *
 * It works by wrapping net.Socket's push (where a socket hands read bytes to its stream) and pause/resume (so a
 * pause the application asked for, libp2p's backpressure, is not undone when the throttle lets go).
 */
import { Socket } from 'node:net'

/** Bytes that may arrive at once before the throttle holds a socket: a few TCP segments' worth, not a file. */
const BURST_BYTES = 64 * 1024

const HELD = Symbol('throttle-held')
const APP_PAUSED = Symbol('app-paused')

interface Marked { [HELD]?: boolean, [APP_PAUSED]?: boolean }

let installed = false

/** Cap this process's TCP reads at `rate` bytes a second (once per process; a second call is refused). */
export function throttleDownloads (rate: number): void {
  if (installed) throw new Error('the download throttle is installed already')
  if (!(rate > 0)) throw new RangeError(`a download rate must be positive, got ${rate}`)
  installed = true
  let tokens = BURST_BYTES
  let last = performance.now()
  const proto = Socket.prototype as Socket & Marked
  const push = proto.push
  const pause = proto.pause
  const resume = proto.resume
  proto.pause = function (this: Socket & Marked) {
    this[APP_PAUSED] = true
    return pause.call(this)
  }
  proto.resume = function (this: Socket & Marked) {
    this[APP_PAUSED] = false
    if (this[HELD] !== true) resume.call(this)
    return this
  }
  proto.push = function (this: Socket & Marked, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined && typeof (chunk as Uint8Array).byteLength === 'number') {
      const now = performance.now()
      tokens = Math.min(BURST_BYTES, tokens + (now - last) / 1000 * rate)
      last = now
      tokens -= (chunk as Uint8Array).byteLength
      if (tokens < 0 && this[HELD] !== true) {
        this[HELD] = true
        pause.call(this)
        setTimeout(() => {
          this[HELD] = false
          if (this[APP_PAUSED] !== true && !this.destroyed) resume.call(this)
        }, Math.ceil(-tokens / rate * 1000))
      }
    }
    return push.call(this, chunk, encoding)
  }
}
