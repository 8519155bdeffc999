import { readFileSync, statSync } from 'node:fs'
import { CID } from 'multiformats/cid'
import { PolicyFileError } from '../../errors.js'
import { PURPOSES } from '../collections/constants.js'
import type { Purpose } from '../collections/governance.js'
import type { CongestionOptions } from './congestion.js'
import type { FloodOptions } from './flood-guard.js'
import type { UnchokeOptions } from './unchoker.js'
import { repoPath } from '../../repo/index.js'

/** The `fairness` key of policy.json: every field optional, defaults in fairness-constants.ts. */
export interface FairnessPolicy {
  /** Schedule uploads fairly (false: first come, first served). @default true */
  enabled?: boolean
  /** Most of the upload one group gets while others wait, 0 < x <= 1. @default 0.25 */
  maxShare?: number
  shareWindowMs?: number
  quantumBytes?: number
  messageBytes?: number
  slots?: number
  groupPrefixV4?: number
  groupPrefixV6?: number
  segmentPrefixV4?: number
  /** Weight of named peers (peer id -> weight > 0); others weigh 1. */
  weights?: Record<string, number>
  /** Adaptive rate on congestion; false turns it off. */
  congestion?: (Omit<CongestionOptions, 'ceiling'> & { enabled?: boolean })
  unchoke?: UnchokeOptions
  flood?: FloodOptions
}

/** One priority class of the `priorities` list: a request matching any of its rules goes in it. */
export interface PriorityClass {
  name: string
  /** Blocks of resources of these purposes in the joined collections (notice, education, ...). */
  purposes?: Purpose[]
  /** Blocks of these DAGs (roots; their blocks as far as this node holds them). */
  cids?: CID[]
  /** Requests from these peers. */
  peers?: string[]
  /** Requests of at most this many blocks (small questions jump the queue). */
  maxBlocks?: number
}

export interface Policy {
  fairness: FairnessPolicy
  /** Classes, highest priority first; the one named "default" takes what matches none (added last if absent). */
  priorities: PriorityClass[]
}

/** Without a policy file: notices first (as a collection's governance ranks them), then everything else. */
export const DEFAULT_PRIORITY_CLASSES: PriorityClass[] = [{ name: 'critical', purposes: ['notice'] }, { name: 'default' }]

function fail (why: string): never {
  throw new PolicyFileError(why)
}

function map (v: unknown, what: string, keys: string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`${what} must be an object`)
  for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`${what} has unknown key ${JSON.stringify(k)} (known: ${keys.join(', ')})`)
  return v as Record<string, unknown>
}

function num (o: Record<string, unknown>, k: string, what: string, min: number, max: number, integer = true): number | undefined {
  const v = o[k]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) fail(`${what}.${k} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`)
  return v
}

function bool (o: Record<string, unknown>, k: string, what: string): boolean | undefined {
  const v = o[k]
  if (v !== undefined && typeof v !== 'boolean') fail(`${what}.${k} must be true or false`)
  return v as boolean | undefined
}

function strings (v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some(s => typeof s !== 'string' || s === '')) fail(`${what} must be a list of strings`)
  return v as string[]
}

const MAX_INT = Number.MAX_SAFE_INTEGER

function parseFairness (v: unknown): FairnessPolicy {
  const w = 'fairness'
  const o = map(
    v,
    w,
    [
      'enabled',
      'maxShare',
      'shareWindowMs',
      'quantumBytes',
      'messageBytes',
      'slots',
      'groupPrefixV4',
      'groupPrefixV6',
      'segmentPrefixV4',
      'weights',
      'congestion',
      'unchoke',
      'flood'
    ]
  )
  const out: FairnessPolicy = {
    enabled: bool(o, 'enabled', w),
    maxShare: num(o, 'maxShare', w, 0.01, 1, false),
    shareWindowMs: num(o, 'shareWindowMs', w, 100, 600_000),
    quantumBytes: num(o, 'quantumBytes', w, 1024, 64 * 1024 * 1024),
    messageBytes: num(o, 'messageBytes', w, 16 * 1024, 1024 * 1024),
    slots: num(o, 'slots', w, 1, 256),
    groupPrefixV4: num(o, 'groupPrefixV4', w, 0, 32),
    groupPrefixV6: num(o, 'groupPrefixV6', w, 0, 128),
    segmentPrefixV4: num(o, 'segmentPrefixV4', w, 0, 32)
  }
  if (o.weights !== undefined) {
    const ws = map(o.weights, `${w}.weights`, Object.keys(o.weights as object))
    out.weights = {}
    for (const peer of Object.keys(ws)) out.weights[peer] = num(ws, peer, `${w}.weights`, 0.01, 1000, false)!
  }
  if (o.congestion !== undefined) {
    const c = map(o.congestion, `${w}.congestion`, ['enabled', 'targetDelayMs', 'minRate'])
    out.congestion = {
      enabled: bool(c, 'enabled', `${w}.congestion`),
      targetDelayMs: num(c, 'targetDelayMs', `${w}.congestion`, 1, 60_000),
      minRate: num(
        c,
        'minRate',
      `${w}.congestion`, 1024, MAX_INT)
    }
  }
  if (o.unchoke !== undefined) {
    const u = map(o.unchoke, `${w}.unchoke`, ['slots', 'optimisticIntervalMs', 'rechokeIntervalMs', 'weight', 'seederWeight', 'takerWeight'])
    const uw = `${w}.unchoke`
    out.unchoke = {
      slots: num(u, 'slots', uw, 0, 1000),
      optimisticIntervalMs: num(u, 'optimisticIntervalMs', uw, 1000, 3_600_000),
      rechokeIntervalMs: num(u, 'rechokeIntervalMs', uw, 1000, 3_600_000),
      weight: num(u, 'weight', uw, 1, 1000, false),
      seederWeight: num(u, 'seederWeight', uw, 1, 1000, false),
      takerWeight: num(u, 'takerWeight', uw, 0.01, 1, false)
    }
  }
  if (o.flood !== undefined) {
    const f = map(o.flood, `${w}.flood`, ['maxPendingRequests', 'duplicateWindowMs', 'throttleMs'])
    const fw = `${w}.flood`
    out.flood = {
      maxPendingRequests: num(f, 'maxPendingRequests', fw, 1, 10_000),
      duplicateWindowMs: num(f, 'duplicateWindowMs', fw, 0, 3_600_000),
      throttleMs: num(f, 'throttleMs', fw, 0, 3_600_000)
    }
  }
  return out
}

function parsePriorities (v: unknown): PriorityClass[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 16) fail('priorities must be a list of 1 to 16 classes, highest first')
  const names = new Set<string>()
  const out = v.map((c, i): PriorityClass => {
    const w = `priorities[${i}]`
    const o = map(c, w, ['name', 'purposes', 'cids', 'peers', 'maxBlocks'])
    if (typeof o.name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,31}$/.test(o.name)) fail(`${w}.name must be a short lower-case name`)
    if (names.has(o.name)) fail(`${w}.name ${o.name} appears twice`)
    names.add(o.name)
    const cls: PriorityClass = { name: o.name }
    if (o.purposes !== undefined) {
      cls.purposes = strings(o.purposes, `${w}.purposes`).map(p => (PURPOSES as readonly string[]).includes(p) ? p as Purpose : fail(`${w}.purposes: unknown purpose ${JSON.stringify(p)} (known: ${PURPOSES.join(', ')})`))
    }
    if (o.cids !== undefined) {
      cls.cids = strings(o.cids, `${w}.cids`).map(s => {
        try { return CID.parse(s) } catch { return fail(`${w}.cids: ${JSON.stringify(s)} is not a CID`) }
      })
    }
    if (o.peers !== undefined) cls.peers = strings(o.peers, `${w}.peers`)
    cls.maxBlocks = num(o, 'maxBlocks', w, 1, 1024)
    return cls
  })
  if (!names.has('default')) out.push({ name: 'default' })
  return out
}

/**
 * The fairness part of a policy document (policy.json): the `fairness` and `priorities` keys, checked strictly
 * (an unknown key inside them is a typo, refused with ERR_POLICY_FILE); other top-level keys belong to other
 * parts of cmesh and are left alone.
 */
export function parsePolicy (doc: unknown): Policy {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) fail('the policy file must hold a JSON object')
  const o = doc as Record<string, unknown>
  return {
    fairness: o.fairness === undefined ? {} : parseFairness(o.fairness),
    priorities: o.priorities === undefined ? DEFAULT_PRIORITY_CLASSES : parsePriorities(o.priorities)
  }
}

/** `<repo>/policy.json` read and checked; the defaults when there is none. */
export function readPolicy (repo: string): Policy {
  const file = repoPath(repo, 'policy')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return parsePolicy({})
    throw new PolicyFileError(`cannot read ${file}: ${(err as Error).message}`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new PolicyFileError(`${file} is not JSON: ${(err as Error).message}`)
  }
  try {
    return parsePolicy(doc)
  } catch (err) {
    throw new PolicyFileError(`${file}: ${(err as Error).message}`)
  }
}

/** When the policy file last changed (0 when there is none): a node reloads it when this moves. */
export function policyStamp (repo: string): number {
  try {
    return statSync(repoPath(repo, 'policy')).mtimeMs
  } catch {
    return 0
  }
}
