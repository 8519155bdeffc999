import { startApi } from '../../daemon/index.js'
import { createNode } from '../../node/index.js'
import { resolveRepo } from '../../store/index.js'
import { parseRate } from '../../policy/fairness/token-bucket.js'
import { parseCount, parseSize, UsageError } from '../args.js'
import type { Command } from '../command.js'
import { startMonitor } from '../../analytics/monitor.js'
import { monitorSource } from '../../analytics/node-hooks.js'

/** HOST:PORT of an option, or undefined when not given. */
function parseHostPort (value: unknown, what: string): { host: string, port: number } | undefined {
  if (typeof value !== 'string') return undefined
  const m = /^(.+):(\d{1,5})$/.exec(value)
  if (m === null || Number(m[2]) > 65535) throw new UsageError(`daemon: ${what} must be HOST:PORT, e.g. 127.0.0.1:9464, got ${value}`)
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) }
}

export const daemon: Command = {
  name: 'daemon',
  summary: 'run a node: serve blocks to peers, find neighbours by mDNS; prints its peer id and addresses; `cmesh fetch` and `cmesh peers` then go through it',
  usage: 'daemon [--listen MULTIADDR]... [--bootstrap PEERID|MULTIADDR[,MULTIADDR]...]... [--no-mdns] [--upload-limit RATE] [--gateway HOST:PORT] [--api-port PORT] [--metrics HOST:PORT] [--allow-private-origins] [--dht server|client|off] [--dht-provide roots|files] [--relay auto|server|client|off] [--no-upnp] [--allow-relayed-transfers] [--json]',
  options: {
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    'no-mdns': { type: 'boolean' },
    'upload-limit': { type: 'string' },
    gateway: { type: 'string' },
    'api-port': { type: 'string' },
    metrics: { type: 'string' },
    'allow-private-origins': { type: 'boolean' },
    dht: { type: 'string' },
    'dht-provide': { type: 'string' },
    relay: { type: 'string' },
    'no-upnp': { type: 'boolean' },
    'allow-relayed-transfers': { type: 'boolean' }
  },
  async run (ctx, values) {
    let uploadLimit: number | undefined
    if (typeof values['upload-limit'] === 'string') {
      try {
        uploadLimit = parseRate(values['upload-limit'])
      } catch (err) {
        throw new UsageError(`daemon: --upload-limit: ${(err as Error).message}`)
      }
    }
    let gateway: { host: string, port: number } | undefined
    if (typeof values.gateway === 'string') {
      const m = /^(.+):(\d{1,5})$/.exec(values.gateway)
      if (m === null || Number(m[2]) > 65535) throw new UsageError(`daemon: --gateway must be HOST:PORT, e.g. 127.0.0.1:8080, got ${values.gateway}`)
      gateway = { host: m[1]!, port: Number(m[2]) }
    }
    const apiPort = parseCount(values['api-port'] as string | undefined, 'daemon: --api-port') ?? 0
    if (apiPort > 65535) throw new UsageError(`daemon: --api-port must be at most 65535, got ${apiPort}`)
    const metricsAt = parseHostPort(values.metrics, '--metrics')
    // a home need not know it is behind NAT: 'auto' offers a relay until its peers show it is, then reserves a slot
    const relay = (values.relay as string | undefined) ?? 'auto'
    if (relay !== 'auto' && relay !== 'server' && relay !== 'client' && relay !== 'off') {
      throw new UsageError(`daemon: --relay must be auto, server, client or off, got ${relay}`)
    }
    // a DHT server must be dialable: a home behind NAT (--relay client) only asks, unless told otherwise ('auto' turns
    // a server into a client once it finds it is behind NAT)
    const dht = (values.dht as string | undefined) ?? (relay === 'client' ? 'client' : 'server')
    if (dht !== 'server' && dht !== 'client' && dht !== 'off') throw new UsageError(`daemon: --dht must be server, client or off, got ${dht}`)
    const dhtProvide = (values['dht-provide'] as string | undefined) ?? 'roots'
    if (dhtProvide !== 'roots' && dhtProvide !== 'files') throw new UsageError(`daemon: --dht-provide must be roots or files, got ${dhtProvide}`)
    const node = await createNode({
      // the community's DHT: a daemon answers queries and holds provider records unless told otherwise
      dht,
      dhtProvide,
      // homes behind NAT: a daemon offers a relay with limits until it finds it is behind NAT, then reserves a slot on
      // one; it asks its router for a port
      relay,
      upnp: values['no-upnp'] !== true,
      allowRelayedTransfers: values['allow-relayed-transfers'] === true,
      analytics: { autoRelease: true },
      gateway,
      uploadLimit,
      repo: ctx.options.repo,
      capacity: ctx.options.capacity === undefined ? undefined : parseSize(ctx.options.capacity, '--capacity'),
      // without --listen: the repository's fixed port (config.json `port`, else 4737), the same after a restart
      listen: values.listen as string[] | undefined,
      fixedPort: true,
      onWarning: message => { process.stderr.write(`cmesh: warning: ${message}\n`) },
      bootstrap: values.bootstrap as string[] | undefined,
      mdns: values['no-mdns'] !== true,
      bootstrapRequired: false,
      // a LAN mirror as an origin the community cache shares and fetches for peers (off: never the LAN's)
      urlCache: { allowPrivateOrigins: values['allow-private-origins'] === true }
    })
    const bootstrap = (values.bootstrap as string[] | undefined) ?? []
    if (bootstrap.length > 0 && node.libp2p.getPeers().length === 0) {
      process.stderr.write('cmesh: warning: no bootstrap peer could be reached; still trying in the background\n')
    }
    const api = await startApi(node, resolveRepo(ctx.options.repo), apiPort)
    const monitor = metricsAt === undefined
      ? undefined
      : await startMonitor(monitorSource(node), metricsAt).catch(async (err: unknown) => {
        await api.close()
        await node.stop()
        throw err
      })
    if (ctx.options.json) {
      ctx.printJson({ peerId: node.peerId.toString(), addrs: node.addrs(), ...node.gateway === undefined ? {} : { gateway: node.gateway.url }, api: api.url })
    } else {
      ctx.print(`peer id ${node.peerId.toString()}`)
      for (const a of node.addrs()) ctx.print(`listening on ${a}`)
      if (node.gateway !== undefined) ctx.print(`gateway on ${node.gateway.url}/ipfs/{cid}`)
      ctx.print(`metrics on ${api.url}/metrics${monitor === undefined ? '' : ` and ${monitor.url}/metrics`}`)
    }
    await new Promise<void>(resolve => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await api.close()
    await monitor?.close()
    await node.stop()
  }
}
