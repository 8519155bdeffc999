import { once } from 'node:events'
import { readFileSync, statSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, relative, sep } from 'node:path'
import type { TestContext } from 'node:test'

/** How the server misbehaves. */
export type ServerFault =
  | 'none'
  /** answers every request 200 with the whole file */
  | 'ignore-range'
  /** flips a byte every 512 bytes of each body */
  | 'corrupt'
  /** never sends headers */
  | 'stall-headers'
  /** sends 206 headers and 100 bytes, then nothing */
  | 'stall-body'
  /** answers 500 */
  | 'error-500'
  /** a 206 whose Content-Range is one byte off */
  | 'wrong-range'
  /** the range asked for, then junk for as long as the client reads (up to 64 MiB) */
  | 'long-body'

export interface ServedRequest {
  path: string
  /** The Range header, if any. */
  range?: string
  status: number
}

export interface StaticServer {
  /** Base URL of the served directory, without a trailing slash. */
  url: string
  requests: ServedRequest[]
  /** Requests whose connection the client closed before the server finished. */
  clientClosed: number
  /** Junk bytes the 'long-body' fault wrote (it stops when the client hangs up). */
  junkBytes: number
}

export interface StaticServerOptions {
  fault?: ServerFault
  /** Answer 500 once this many requests have been served. @default never */
  failAfter?: number
}

/** Most junk the 'long-body' fault sends: a client that reads it all shows up as junkBytes at the cap. */
export const JUNK_CAP = 64 * 1024 * 1024

/**
 * A plain HTTP server on 127.0.0.1 serving the files under `root` with single-range `Range:` support (206,
 * 416), like nginx would, plus fault modes. Stopped, connections and all, when the test ends.
 */
export async function serveDir (t: TestContext, root: string, options: StaticServerOptions = {}): Promise<StaticServer> {
  const fault = options.fault ?? 'none'
  const served: StaticServer = { url: '', requests: [], clientClosed: 0, junkBytes: 0 }
  const server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '')
      const range = req.headers.range
      const log = (status: number): void => { served.requests.push({ path, range, status }) }
      res.on('close', () => { if (!res.writableFinished) served.clientClosed++ })
      if (options.failAfter !== undefined && served.requests.length >= options.failAfter) return end(res, 500, log)
      const file = join(root, path)
      if (relative(root, file).split(sep).includes('..')) return end(res, 403, log)
      let size: number
      try {
        const st = statSync(file)
        if (!st.isFile()) return end(res, 404, log)
        size = st.size
      } catch {
        return end(res, 404, log)
      }
      if (fault === 'stall-headers') { log(0); return }
      if (fault === 'error-500') return end(res, 500, log)
      const bytes = readFileSync(file)
      const m = range === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(range)
      if (m === null || fault === 'ignore-range') {
        log(200)
        res.writeHead(200, { 'content-length': String(size) })
        res.end(fault === 'corrupt' ? corrupt(bytes) : bytes)
        return
      }
      const start = Number(m[1])
      const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
      if (start >= size || last < start) {
        log(416)
        res.writeHead(416, { 'content-range': `bytes */${size}` })
        res.end()
        return
      }
      let body: Buffer = bytes.subarray(start, last + 1)
      const shift = fault === 'wrong-range' ? 1 : 0
      log(206)
      if (fault === 'long-body') {
        // no content-length: the body runs on past the range, and only the client can stop it
        res.writeHead(206, { 'content-range': `bytes ${start}-${last}/${size}` })
        res.write(body)
        const junk = Buffer.alloc(64 * 1024, 0x5a)
        while (served.junkBytes < JUNK_CAP && !res.destroyed) {
          served.junkBytes += junk.length
          if (!res.write(junk)) await drainOrClose(res)
        }
        res.end()
        return
      }
      res.writeHead(206, { 'content-range': `bytes ${start + shift}-${last + shift}/${size}`, 'content-length': String(body.length) })
      if (fault === 'stall-body') {
        res.write(body.subarray(0, 100)) // then nothing, ever
        return
      }
      if (fault === 'corrupt') body = corrupt(body)
      res.end(body)
    })()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  served.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return served
}

function end (res: ServerResponse, status: number, log: (status: number) => void): void {
  log(status)
  res.writeHead(status)
  res.end()
}

/** Wait until `res` can take more, or is gone (listeners removed either way). */
async function drainOrClose (res: ServerResponse): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

function corrupt (bytes: Buffer): Buffer {
  const out = Buffer.from(bytes)
  for (let i = 0; i < out.length; i += 512) out[i] = out[i]! ^ 0xff
  return out
}
