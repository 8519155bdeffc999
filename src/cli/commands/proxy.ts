import { daemonApi, startApi } from '../../daemon/index.js'
import { CmeshError } from '../../errors.js'
import { createNode } from '../../node/index.js'
import { resolveRepo } from '../../store/index.js'
import { DEFAULT_PROXY_PORT, startProxy } from '../../sync/cache/http-proxy.js'
import { UsageError } from '../args.js'
import type { Command } from '../command.js'

export const proxy: Command = {
  name: 'proxy',
  summary: 'run a node with a forward HTTP proxy: devices set it as their proxy and plain-HTTP GETs use the community cache',
  usage: 'proxy [--port 3128] [--host ADDRESS]... [--connect-port 443]... [--allow-private-destinations] [--allow-loopback-destinations] [--listen MULTIADDR]... [--bootstrap PEERID|MULTIADDR[,MULTIADDR]...]... [--no-mdns] [--json]',
  options: {
    port: { type: 'string' },
    host: { type: 'string', multiple: true },
    'connect-port': { type: 'string', multiple: true },
    'allow-private-destinations': { type: 'boolean' },
    // an origin on this very machine, for a community run on one machine (tests, demos): never on a shared network
    'allow-loopback-destinations': { type: 'boolean' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    'no-mdns': { type: 'boolean' }
  },
  async run (ctx, values) {
    const port = values.port === undefined ? DEFAULT_PROXY_PORT : Number(values.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`proxy: --port must be a port number, got ${String(values.port)}`)
    const connectPorts = (values['connect-port'] as string[] | undefined)?.map(p => {
      const n = Number(p)
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`proxy: --connect-port must be a port number, got ${p}`)
      return n
    })
    const repo = resolveRepo(ctx.options.repo)
    if (await daemonApi(repo) !== undefined) throw new CmeshError('ERR_DAEMON_RUNNING', `a daemon already runs on ${repo}: stop it first (the proxy runs the node itself)`)
    const node = await createNode({
      repo: ctx.options.repo,
      listen: values.listen as string[] | undefined,
      fixedPort: true,
      onWarning: message => { process.stderr.write(`cmesh: warning: ${message}\n`) },
      bootstrap: values.bootstrap as string[] | undefined,
      mdns: values['no-mdns'] !== true,
      bootstrapRequired: false,
      urlCache: { allowPrivateOrigins: values['allow-private-destinations'] === true }
    })
    let api: Awaited<ReturnType<typeof startApi>> | undefined
    let server: Awaited<ReturnType<typeof startProxy>> | undefined
    try {
      api = await startApi(node, repo)
      server = await startProxy(node, {
        port,
        host: values.host as string[] | undefined,
        connectPorts,
        destinations: { allowPrivate: values['allow-private-destinations'] === true, allowLoopback: values['allow-loopback-destinations'] === true }
      })
      if (ctx.options.json) ctx.printJson({ peerId: node.peerId.toString(), addrs: node.addrs(), proxy: server.url, proxies: server.urls })
      else {
        ctx.print(`peer id ${node.peerId.toString()}`)
        ctx.print(`proxy on ${server.urls.join(', ')} (set http_proxy=${server.url}; apt: Acquire::http::Proxy "${server.url}";)`)
      }
      await new Promise<void>(resolve => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
    } finally {
      await server?.close()
      await api?.close()
      await node.stop()
    }
  }
}
