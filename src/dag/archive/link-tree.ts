import type { CID } from 'multiformats/cid'
import { encodeFileNode, type FileLink } from '../nodes.js'
import { GROUP_MASK, GROUP_MAX, GROUP_MIN } from './constants.js'

/**
 * The file tree over an archive's stream: a node closes after a link whose CID's last digest byte has its low bits
 * clear (GROUP_MASK), between GROUP_MIN and GROUP_MAX links, at every level. The grouping depends on the links, not
 * on their count, so a member added or removed changes the nodes around it only, where fixed fan-out would shift
 * every later node. Memory is O(GROUP_MAX × depth).
 */
export class LinkTree {
  private readonly levels: FileLink[][] = [[]]

  constructor (private readonly emit: (bytes: Uint8Array) => Promise<CID>) {}

  private async fold (links: FileLink[]): Promise<FileLink> {
    let size = 0
    for (const l of links) size += l.size
    return { cid: await this.emit(encodeFileNode(links)), size }
  }

  private static closes (link: FileLink, count: number): boolean {
    if (count >= GROUP_MAX) return true
    if (count < GROUP_MIN) return false
    const d = link.cid.multihash.digest
    return (d[d.length - 1]! & GROUP_MASK) === 0
  }

  async add (link: FileLink, level = 0): Promise<void> {
    if (this.levels[level] === undefined) this.levels[level] = []
    const links = this.levels[level]
    links.push(link)
    if (LinkTree.closes(link, links.length)) {
      this.levels[level] = []
      await this.add(await this.fold(links), level + 1)
    }
  }

  /** The root link; undefined when no link was added. */
  async finish (): Promise<FileLink | undefined> {
    for (let i = 0; i < this.levels.length; i++) {
      const links = this.levels[i]!
      if (i === this.levels.length - 1) return links.length <= 1 ? links[0] : await this.fold(links)
      if (links.length === 0) continue
      this.levels[i] = []
      // a lone link moves up as it is: links carry sizes, so subtrees of unequal depth are fine
      await this.add(links.length === 1 ? links[0]! : await this.fold(links), i + 1)
    }
    return undefined
  }
}
