/** Unsigned LEB128 (the varint of CAR sections and block-protocol frames), for hand-made hostile inputs. */
export function leb128 (n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}
