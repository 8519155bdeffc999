/**
 * A plain static web server for the mirror benchmarks: files under a root directory, single `Range:` requests
 * (what any static host does), a request and byte counter, and an optional pace shared by all responses (a
 * mirror farther away than the peers), changeable while it runs.
 */
import { once } from 'node:events'
import { createReadStream, statSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface StaticServer {
  /** `http://127.0.0.1:<port>`: a file is at `${url}/${path}`. */
  url: string
  /** Requests received. */
  readonly requests: number
  /** Body bytes sent. */
  readonly bytes: number
  /** When each request arrived (performance.now() ms). */
  readonly requestTimes: readonly number[]
  /** Body bytes a second over all responses, 0 for as fast as possible. */
  pace: number
  close: () => Promise<void>
}

/** Bytes read from a file and written to the response at a time (and the pacing step). */
const PIECE_BYTES = 64 * 1024

/** Serve the files under `root` on 127.0.0.1 (a free port), paced to `pace` bytes a second (0: unpaced). */
export async function startStaticServer (root: string, pace = 0): Promise<StaticServer> {
  let requests = 0
  let bytes = 0
  const requestTimes: number[] = []
  // the pace is a virtual clock shared by every response: each piece is sent no earlier than its turn
  let clock = 0
  const state = { pace }
  const wait = async (n: number): Promise<void> => {
    if (state.pace <= 0) return
    const now = performance.now()
    clock = Math.max(clock, now) + 1000 * n / state.pace
    const due = clock - 1000 * n / state.pace
    if (due > now) await sleep(due - now)
  }
  const drained = async (res: ServerResponse): Promise<void> => {
    await new Promise<void>(resolve => {
      const done = (): void => { res.off('drain', done); res.off('close', done); resolve() }
      res.on('drain', done)
      res.on('close', done)
    })
  }
  const send = async (res: ServerResponse, path: string, start: number, end: number): Promise<void> => {
    for await (const piece of createReadStream(path, { start, end, highWaterMark: PIECE_BYTES }) as AsyncIterable<Buffer>) {
      await wait(piece.length)
      if (res.destroyed) return
      bytes += piece.length
      if (!res.write(piece)) await drained(res)
    }
    res.end()
  }

  const server = createServer((req, res) => {
    requests++
    requestTimes.push(performance.now())
    const parts = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).split('/').filter(p => p !== '')
    if (parts.includes('..')) { res.writeHead(400).end(); return }
    const path = join(root, ...parts)
    let size: number
    try {
      const info = statSync(path)
      if (!info.isFile()) throw new Error('not a file')
      size = info.size
    } catch {
      res.writeHead(404).end()
      return
    }
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
    let start = 0
    let end = size - 1
    if (m === null) {
      res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' })
    } else {
      start = Number(m[1])
      end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
      if (start >= size || end < start) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end()
        return
      }
      res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` })
    }
    if (size === 0) { res.end(); return }
    send(res, path, start, end).catch(() => res.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    get requests () { return requests },
    get bytes () { return bytes },
    requestTimes,
    get pace () { return state.pace },
    set pace (v: number) { state.pace = v; clock = 0 },
    close: async () => {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  }
}
