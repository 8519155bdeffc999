import { createHash } from 'node:crypto'

/** A member of the community as ownership sees it: its id and its weight (free cache capacity, bytes). */
export interface Member {
  id: string
  weight: number
}

/** A hash of key and member, as a uniform number in (0, 1). */
function unit (key: string, member: string): number {
  const h = createHash('sha256').update(key).update('\0').update(member).digest()
  // 52 bits: exactly representable, never 0 or 1
  const n = h.readUIntBE(0, 6) * 16 + (h[6]! >> 4)
  return (n + 0.5) / 2 ** 52
}

/**
 * Weighted rendezvous (highest random weight) score: -w / ln(u). The member with the highest score owns the key,
 * and a member's chance to own a key is its share of the total weight; removing a member moves only its keys.
 */
export function rendezvousScore (key: string, member: Member): number {
  if (!(member.weight > 0)) return 0
  return -member.weight / Math.log(unit(key, member.id))
}

/**
 * The `k` owners of `key`, best first: the members with the highest weighted rendezvous scores. Members of weight
 * 0 or less are owners only when nothing else is left (ordered by the unweighted hash then).
 */
export function owners (key: string, members: readonly Member[], k: number): string[] {
  const scored = members.map(m => ({ id: m.id, score: rendezvousScore(key, m), tie: unit(key, m.id) }))
  scored.sort((a, b) => b.score - a.score || b.tie - a.tie || (a.id < b.id ? -1 : 1))
  return scored.slice(0, Math.max(0, k)).map(s => s.id)
}
