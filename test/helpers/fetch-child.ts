// Child process for the multi-subnet test, a node run in a host's network namespace. `fetch:CID` fetches as soon
// as the node has started (one JSON line: seconds, sources, routed), `provider:CID:PEER[:circuit]` waits until the
// community's DHT lists PEER as a provider of CID (at a relay's address with `circuit`), `peers` prints how the node
// reaches its peers. The steps run in the order given. CMESH_DEBUG_PROVIDERS=1 prints every provider a lookup
// returns, with its addresses, on stderr; CMESH_DEBUG_FETCH=1 every fetch event and connection opened or closed.
import type { KadDHT } from '@libp2p/kad-dht'
import { CID } from 'multiformats/cid'
import { createNode, type NodeOptions } from '../../src/node/index.js'
import { routingKey } from '../../src/sync/routing/index.js'
import { waitFor } from './wait.js'

const [options, ...steps] = process.argv.slice(2) as [string, ...string[]]
const node = await createNode(JSON.parse(options) as NodeOptions)
const print = (line: unknown): void => { process.stdout.write(JSON.stringify(line) + '\n') }
const debugFetch = process.env.CMESH_DEBUG_FETCH !== undefined
const debug = (line: string): void => { if (debugFetch) process.stderr.write(`${new Date().toISOString()} ${line}\n`) }
node.libp2p.addEventListener('connection:open', e => { debug(`open ${e.detail.direction} ${e.detail.remoteAddr.toString()}${e.detail.limits == null ? '' : ' limited'}`) })
node.libp2p.addEventListener('connection:close', e => { debug(`close ${e.detail.direction} ${e.detail.remoteAddr.toString()}`) })
try {
  for (const step of steps) {
    const [what, cid, peer, circuit] = step.split(':') as [string, string, string?, string?]
    if (what === 'fetch') {
      const r = await node.fetch(CID.parse(cid), debugFetch ? { onProgress: e => { debug(JSON.stringify(e)) } } : {})
      print({ cid, seconds: r.seconds, sources: r.sources, routed: r.routed ?? null })
    } else if (what === 'provider') {
      // every DHT node's answer, not the first for each provider: one may hold a home's address from before its relay slot
      const dht = (node.libp2p.services as { dht: Pick<KadDHT, 'findProviders'> }).dht
      const listed = async (): Promise<boolean> => {
        for await (const event of dht.findProviders(routingKey(CID.parse(cid)), { signal: AbortSignal.timeout(5000) })) {
          if (event.name !== 'PROVIDER') continue
          for (const p of event.providers) {
            if (process.env.CMESH_DEBUG_PROVIDERS !== undefined) process.stderr.write(`provider ${p.id.toString()} ${p.multiaddrs.map(String).join(' ')}\n`)
            if (p.id.toString() === peer && (circuit === undefined || p.multiaddrs.some(a => a.toString().includes('/p2p-circuit')))) return true
          }
        }
        return false
      }
      await waitFor(async () => await listed().catch(() => false), { what: `${peer ?? '?'} listed as a provider of ${cid}`, intervalMs: 200 })
      print({ provider: peer, cid })
    } else if (what === 'peers') {
      print({ peers: await node.peers({ pingTimeoutMs: 1000 }) })
    }
  }
} finally {
  await node.stop()
}
