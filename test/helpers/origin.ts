import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An object the origin serves: its bytes and the response headers it sends with them. */
export interface OriginObject {
  bytes: Uint8Array
  headers?: Record<string, string>
  /** Answer with this status instead of 200 (no body). */
  status?: number
}

/**
 * A plain HTTP origin on 127.0.0.1 for tests, benches and the demo: serves objects by path with an ETag
 * (strong, from the path and a version), answers If-None-Match with 304, and counts every body byte it sends
 * and every request per path. `delayMs` holds each answer back, so concurrent requests overlap.
 */
export class Origin {
  readonly objects = new Map<string, OriginObject & { version: number }>()
  bytesSent = 0
  requests = 0
  readonly requestsByPath = new Map<string, number>()
  /** Headers of the last request to each path. */
  readonly lastRequest = new Map<string, Record<string, string | string[] | undefined>>()
  delayMs = 0
  private server: Server | undefined
  port = 0

  set (path: string, object: OriginObject): void {
    const version = (this.objects.get(path)?.version ?? 0) + 1
    this.objects.set(path, { ...object, version })
  }

  url (path: string): string {
    return `http://127.0.0.1:${this.port}${path}`
  }

  async start (port = 0): Promise<void> {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      this.requests++
      this.requestsByPath.set(path, (this.requestsByPath.get(path) ?? 0) + 1)
      this.lastRequest.set(path, { ...req.headers })
      const answer = (): void => {
        const o = this.objects.get(path)
        if (o === undefined) { res.writeHead(404).end(); return }
        if (o.status !== undefined) { res.writeHead(o.status).end(); return }
        const etag = `"${Buffer.from(path).toString('base64url')}-${o.version}"`
        const headers: Record<string, string> = { etag, 'content-type': 'application/octet-stream', ...o.headers }
        if (req.headers['if-none-match'] === headers.etag) { res.writeHead(304, headers).end(); return }
        res.writeHead(200, { ...headers, 'content-length': String(o.bytes.length) })
        if (req.method === 'HEAD') { res.end(); return }
        this.bytesSent += o.bytes.length
        res.end(o.bytes)
      }
      if (this.delayMs > 0) setTimeout(answer, this.delayMs)
      else answer()
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', resolve)
    })
    this.server = server
    this.port = (server.address() as AddressInfo).port
  }

  /** Stop answering (the internet link is down); start(port) again brings it back on the same port. */
  async stop (): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }
}
