import { murmur364 } from '@multiformats/murmur3'

/**
 * The bits that place a name in a UnixFS HAMT, as Kubo and Helia compute them: murmur3-x64-64 of the name's UTF-8
 * bytes read from the first byte's top bit down; when those 64 bits are used up, the hash of the name followed by
 * one byte (1, 2, ...) gives 64 more.
 */
export class HamtBits {
  private readonly name: Uint8Array
  private round = 0
  private buffer = new Uint8Array(0)
  private bit = 0

  constructor (name: string) {
    this.name = new TextEncoder().encode(name)
  }

  /** The next `count` bits (at most 16) as a number. */
  async take (count: number): Promise<number> {
    let value = 0
    for (let i = 0; i < count; i++) {
      if (this.bit === this.buffer.length * 8) await this.more()
      const byte = this.buffer[this.bit >> 3]!
      value = (value << 1) | ((byte >> (7 - (this.bit & 7))) & 1)
      this.bit++
    }
    return value
  }

  private async more (): Promise<void> {
    const input = this.round === 0 ? this.name : Uint8Array.from([...this.name, this.round])
    this.buffer = await murmur364.encode(input)
    this.bit = 0
    this.round++
  }
}
