import { setTimeout as sleep } from 'node:timers/promises'
import { MESSAGE_TIME_MS } from '../../policy/fairness/constants.js'
import type { UploadGrant } from '../../policy/fairness/upload-scheduler.js'

/**
 * Wait for a message to leave its stream. The request's next turn may come meanwhile; a reader that drains
 * slowly would hold that turn's slot from everyone, so after MESSAGE_TIME_MS it gives the turn back and asks
 * again once drained. Gives the next turn, if one was asked for.
 */
export async function drain (
  sending: Promise<void>,
  next: Promise<UploadGrant> | undefined,
  turn: () => Promise<UploadGrant>
): Promise<{ next?: Promise<UploadGrant> }> {
  if (next === undefined) {
    await sending
    return {}
  }
  let sent = false
  const done = sending.then(() => { sent = true })
  await Promise.race([done, next.then(() => {}, () => {})])
  if (sent) return { next }
  const hold = new AbortController()
  await Promise.race([done, sleep(MESSAGE_TIME_MS, undefined, { signal: hold.signal }).catch(() => {})])
  hold.abort()
  if (sent) return { next }
  ;(await next).release(0)
  await done
  const again = turn()
  again.catch(() => {})
  return { next: again }
}
