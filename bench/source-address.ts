/**
 * Outbound TCP connections of a bench process to loopback leave from `ip` (one of 127.0.0.0/8) rather than from
 * 127.0.0.1, so the node this process hosts is seen from its own address whichever side dialled: otherwise every
 * dialled connection on the host comes from 127.0.0.1, and the peer takes fifty downloaders for one host (one
 * upload group in its scheduler; and libp2p refuses more than five inbound connections a second from one host).
 */
import { Socket } from 'node:net'

let bound = false

/** Bind this process's outbound loopback connections to `ip` (once per process). */
export function bindOutbound (ip: string): void {
  if (bound) throw new Error('outbound connections are bound already')
  if (!/^127\.\d+\.\d+\.\d+$/.test(ip)) throw new RangeError(`expected a loopback address, got ${ip}`)
  bound = true
  const connect = Socket.prototype.connect as (...args: unknown[]) => Socket
  const withSource = (o: unknown): void => {
    if (o === null || typeof o !== 'object') return
    const options = o as { host?: unknown, localAddress?: unknown, path?: unknown }
    if (options.path === undefined && typeof options.host === 'string' && options.host.startsWith('127.') && options.localAddress === undefined) options.localAddress = ip
  }
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]): Socket {
    // net.connect passes its arguments normalized, as [options, callback]
    withSource(Array.isArray(args[0]) ? args[0][0] : args[0])
    return connect.apply(this, args)
  } as typeof Socket.prototype.connect
}
