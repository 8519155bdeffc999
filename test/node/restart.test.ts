import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { createNode, type CmeshNode, type NodeOptions } from '../../src/node/index.js'
import { DEFAULT_PORT } from '../../src/node/constants.js'
import { readRepoConfig, repoPath } from '../../src/repo/index.js'
import { tempDir } from '../helpers/temp.js'
import { waitFor } from '../helpers/wait.js'

/** A port free now on every interface (the system's pick, let go again). */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '0.0.0.0', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

/** A repository whose config.json names `port`. */
function repoWithPort (t: TestContext, port: number): string {
  const repo = join(tempDir(t), 'repo')
  mkdirSync(repo, { recursive: true })
  writeFileSync(repoPath(repo, 'config'), JSON.stringify({ port }))
  return repo
}

async function start (t: TestContext, options: NodeOptions): Promise<CmeshNode> {
  const node = await createNode({ mdns: false, fixedPort: true, ...options })
  t.after(async () => await node.stop().catch(() => {}))
  return node
}

const ports = (node: CmeshNode): number[] => [...new Set(node.addrs().map(a => Number(a.split('/')[4])))]

describe('a node that comes back after a restart', () => {
  it('listens on its repository\'s port again, and on a random one with a warning while that port is taken', async t => {
    const port = await freePort()
    const repo = repoWithPort(t, port)
    const first = await start(t, { repo, minPeers: 0 })
    assert.deepEqual(ports(first), [port])
    await first.stop()
    const again = await start(t, { repo, minPeers: 0 })
    assert.deepEqual(ports(again), [port])
    await again.stop()
    const blocker: Server = createServer()
    await new Promise<void>(resolve => blocker.listen(port, '0.0.0.0', resolve))
    t.after(() => { blocker.close() })
    const warnings: string[] = []
    const elsewhere = await start(t, { repo, minPeers: 0, onWarning: m => warnings.push(m) })
    assert.notDeepEqual(ports(elsewhere), [port])
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, new RegExp(`^port ${port} is in use: listening on port ${ports(elsewhere)[0]!} for now`))
    assert.equal(readRepoConfig(repo).port, port, 'the configured port stays the one to come back to')
  })

  it('takes the default port on its first start and writes it to config.json', async t => {
    const repo = join(tempDir(t), 'repo')
    const warnings: string[] = []
    const node = await start(t, { repo, minPeers: 0, onWarning: m => warnings.push(m) })
    if (ports(node).includes(DEFAULT_PORT)) {
      assert.equal(readRepoConfig(repo).port, DEFAULT_PORT)
    } else {
      // something on this machine holds the default port: the node said so and remembered nothing
      assert.match(warnings[0]!, new RegExp(`^port ${DEFAULT_PORT} is in use`))
      assert.equal(readRepoConfig(repo).port, undefined)
    }
  })

  it('remembers its peers with their last good addresses, and dials them again after a restart by itself', async t => {
    const [portA, portB] = [await freePort(), await freePort()]
    const [repoA, repoB] = [repoWithPort(t, portA), repoWithPort(t, portB)]
    let a = await start(t, { repo: repoA, minPeers: 0 })
    let b = await start(t, { repo: repoB, bootstrap: [`/ip4/127.0.0.1/tcp/${portA}`] })
    await waitFor(() => b.peerMemory.list().some(p => p.peerId === a.peerId.toString()), { what: 'b to remember a' })
    await b.stop()
    await a.stop()
    const saved = JSON.parse(readFileSync(repoPath(repoB, 'peers'), 'utf8')) as { peers: Array<{ peerId: string, addrs: string[] }> }
    const remembered = saved.peers.find(p => p.peerId === a.peerId.toString())
    assert.ok(remembered !== undefined, 'a is in peers.json')
    assert.equal(remembered.addrs[0], `/ip4/127.0.0.1/tcp/${portA}`, 'the address b dialled comes first')
    assert.ok(remembered.addrs.length <= 8)

    // both restart; b is given no bootstrap peer at all
    a = await start(t, { repo: repoA, minPeers: 0 })
    b = await start(t, { repo: repoB })
    await waitFor(() => b.libp2p.getConnections(a.peerId).length > 0, { what: 'b to dial a again' })
    assert.ok(b.libp2p.getConnections(a.peerId).some(c => c.direction === 'outbound'), 'b dialled a itself')
    await b.stop()

    // a bootstrap peer named by its id alone: dialled at the address remembered for it
    b = await start(t, { repo: repoB, minPeers: 0, bootstrap: [a.peerId.toString()] })
    assert.ok(b.libp2p.getConnections(a.peerId).length > 0, 'connected before createNode returned')
  })

  it('keeps a bounded memory: at most 64 peers of 8 addresses, plain IP only, none gone for weeks; a damaged peers.json is an empty one', async t => {
    const repo = join(tempDir(t), 'repo')
    mkdirSync(repo, { recursive: true })
    const ids = await Promise.all(Array.from({ length: 80 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    const addrs = [...Array.from({ length: 12 }, (_, i) => `/ip4/198.51.100.${i + 1}/tcp/4737`), '/dns4/example.org/tcp/4737']
    writeFileSync(repoPath(repo, 'peers'), JSON.stringify({
      peers: [
        { peerId: 'not-a-peer', addrs, lastConnected: Date.now(), segment: 'other' },
        // not connected for a month: it left the neighbourhood
        { peerId: ids[0], addrs, lastConnected: Date.now() - 30 * 24 * 3600 * 1000, segment: 'other' },
        ...ids.slice(1).map((peerId, i) => ({ peerId, addrs, lastConnected: Date.now() - i * 1000, segment: 'other' }))
      ]
    }))
    const node = await start(t, { repo, listen: ['/ip4/127.0.0.1/tcp/0'], minPeers: 0 })
    const list = node.peerMemory.list()
    assert.ok(list.length > 0 && list.length <= 64, `${list.length} peers`)
    assert.ok(list.every(p => ids.slice(1).includes(p.peerId) && p.addrs.length === 8 && p.addrs.every(a => a.startsWith('/ip4/'))))
    const known = await node.libp2p.peerStore.get(peerIdFromString(list[0]!.peerId))
    assert.equal(known.addresses.length, 8, 'handed to the peer store')
    await node.stop()
    writeFileSync(repoPath(repo, 'peers'), '{ not json')
    const again = await start(t, { repo, listen: ['/ip4/127.0.0.1/tcp/0'], minPeers: 0 })
    assert.deepEqual(again.peerMemory.list(), [])
  })
})
