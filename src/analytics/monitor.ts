import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import { createRegistry, health, type MonitorSource } from './prometheus.js'

/**
 * Answer GET /metrics (Prometheus text format, prom-client) and GET /health (JSON) for a node; returns false for
 * any other request. The registry is made on the first scrape, so a node nobody monitors pays nothing for it.
 */
export function monitorHandler (source: MonitorSource): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  let registry: Registry | undefined
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/health')) return false
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(health(source)))
      return true
    }
    registry ??= createRegistry(source)
    const text = await registry.metrics()
    res.writeHead(200, { 'content-type': registry.contentType })
    res.end(text)
    return true
  }
}

/** A server with /metrics and /health only (nothing that controls the node), for a monitoring system to scrape. */
export async function startMonitor (
  source: MonitorSource,
  listen: { host?: string, port?: number } = {}
): Promise<{ url: string, close: () => Promise<void> }> {
  const handle = monitorHandler(source)
  const server: Server = createServer((req, res) => {
    handle(req, res).then(done => {
      if (!done) res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'only /metrics and /health here', code: 'ERR_NOT_FOUND' }))
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message, code: 'ERR_INTERNAL' }))
    })
  })
  const host = listen.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port ?? 0, host, resolve)
  })
  const port = (server.address() as { port: number }).port
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: async () => {
      await new Promise<void>(resolve => server.close(() => resolve()))
      server.closeAllConnections()
    }
  }
}
