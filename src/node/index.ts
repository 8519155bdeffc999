/**
 * The node: `createNode()` builds every service of a CommunityMesh node on a repository (the composition root), and
 * `CmeshNode` is the facade the CLI, the daemon and library users call.
 */
export { CmeshNode, createNode, type NodeOptions, type PeerInfo } from './node.js'
