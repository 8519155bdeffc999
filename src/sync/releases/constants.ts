/** Tunables of releases: the release exchange protocol and a manifest's default lifetime. */
import { MAX_BUNDLE_BYTES } from '../../policy/trust/constants.js'

/** Peers hand each other the bundle of the release they hold for a name. */
export const RELEASE_PROTOCOL = '/cmesh/release/1.0.0'
/** A question is one small frame, `{ name, blocks, have }`: a release name and a CID fit many times over. */
export const MAX_QUESTION_BYTES = 1024
/** Answers are `{ bundle: bytes | null }`: the bundle plus a few bytes of framing. */
export const MAX_ANSWER_BYTES = MAX_BUNDLE_BYTES + 1024
/** A peer that does not answer within this long is skipped. */
export const RELEASE_ASK_TIMEOUT_MS = 5000
/** Questions one peer may have open with us at once (an update asks each peer once). */
export const RELEASE_MAX_INBOUND_STREAMS = 4
/** A manifest is valid this long unless the publisher says otherwise: a client refuses it after (freeze attacks). */
export const DEFAULT_RELEASE_LIFETIME_MS = 90 * 24 * 3600 * 1000
/** Reading a bundle from an http(s) URL is given up after this long, unless the caller passes its own signal. */
export const BUNDLE_FETCH_TIMEOUT_MS = 30_000
