/**
 * A TCP relay on 127.0.0.1 that counts the bytes it forwards each way: what really crossed the socket (TLS
 * records, yamux frames, every protocol), to check the counts a node reports about itself.
 */
import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'

export interface CountingProxy {
  port: number
  /** Bytes forwarded from the target to the clients that connected (what those clients received). */
  readonly down: number
  /** Bytes forwarded from the clients to the target. */
  readonly up: number
  close: () => Promise<void>
}

/** Relay connections on a new loopback port to `host:port`. */
export async function countingProxy (host: string, port: number): Promise<CountingProxy> {
  let down = 0
  let up = 0
  const sockets = new Set<Socket>()
  const server = createServer(client => {
    const target = connect(port, host)
    for (const s of [client, target]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => { client.destroy(); target.destroy() })
    }
    client.on('data', (b: Buffer) => { up += b.length })
    target.on('data', (b: Buffer) => { down += b.length })
    client.pipe(target)
    target.pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as { port: number }).port,
    get down () { return down },
    get up () { return up },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}
