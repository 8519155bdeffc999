import { POLICY_RELOAD_MS } from '../policy/fairness/constants.js'
import { policyStamp, readPolicy } from '../policy/fairness/policy-file.js'
import type { BlockService } from '../sync/exchange/block-service.js'

export interface PolicyWatchComponents {
  repo: string
  blocks: Pick<BlockService, 'setPolicy' | 'priorities'>
}

/**
 * Reloads `<repo>/policy.json` when it changes, and walks the priority classes' DAGs again when it does not (new
 * resources, newly fetched blocks). A bad edit keeps the policy in force; `cmesh stats` reports the file's error.
 */
export class PolicyWatch {
  private timer: ReturnType<typeof setInterval> | undefined

  constructor (private readonly components: PolicyWatchComponents, private readonly intervalMs = POLICY_RELOAD_MS) {}

  start (): void {
    const { repo, blocks } = this.components
    let stamp = policyStamp(repo)
    this.timer = setInterval(() => {
      const now = policyStamp(repo)
      if (now !== stamp) {
        stamp = now
        try {
          blocks.setPolicy(readPolicy(repo))
        } catch {}
      } else {
        blocks.priorities.refresh()
      }
    }, this.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }
}
