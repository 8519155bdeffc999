import type { CID } from 'multiformats/cid'
import { encodeFileNode, type FileLink } from './nodes.js'

/**
 * Builds a balanced file tree as leaves stream in: each level keeps at most `fanout` links, so memory is
 * O(fanout × depth) whatever the file size. `emit` stores a node and returns its CID.
 */
export class FileTreeBuilder {
  private readonly levels: FileLink[][] = [[]]
  private readonly fanout: number
  private readonly emit: (bytes: Uint8Array) => Promise<CID>

  constructor (fanout: number, emit: (bytes: Uint8Array) => Promise<CID>) {
    this.fanout = fanout
    this.emit = emit
  }

  private async fold (links: FileLink[]): Promise<FileLink> {
    let size = 0
    for (const l of links) size += l.size
    return { cid: await this.emit(encodeFileNode(links)), size }
  }

  async add (link: FileLink): Promise<void> {
    this.levels[0]!.push(link)
    for (let i = 0; this.levels[i]!.length === this.fanout; i++) {
      const up = await this.fold(this.levels[i]!)
      this.levels[i] = []
      if (this.levels[i + 1] === undefined) this.levels[i + 1] = []
      this.levels[i + 1]!.push(up)
    }
  }

  /** The root link; undefined when no leaf was added. */
  async finish (): Promise<FileLink | undefined> {
    for (let i = 0; i < this.levels.length; i++) {
      const level = this.levels[i]!
      const top = i === this.levels.length - 1
      if (top) {
        if (level.length <= 1) return level[0]
        return await this.fold(level)
      }
      if (level.length === 0) continue
      // a lone link moves up as it is: links carry sizes, so subtrees of unequal depth are fine
      this.levels[i + 1]!.push(level.length === 1 ? level[0]! : await this.fold(level))
    }
    return undefined
  }
}
