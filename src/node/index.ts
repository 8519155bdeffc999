/**
 * The node: `createNode()` builds every service of a CommunityMesh node on a repository (the composition root), and
 * `CmeshNode` is the facade the CLI, the daemon and library users call.
 */
export { createNode } from './create.js'
export { CmeshNode, type NodeServices } from './node.js'
export type { NodeOptions, PeerInfo, PeerReach } from './options.js'
export { PeerRanking, type PeerRankingComponents } from './peers.js'
export { NodeDownloads, type NodeDownloadsComponents } from './downloads.js'
