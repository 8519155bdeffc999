/** Tunables of trust: the limits of signed release manifests and bundles. */

/** Largest signed envelope accepted: the manifest is metadata, not data. */
export const MAX_MANIFEST_BYTES = 64 * 1024
/** Largest bundle accepted (envelope and interior blocks): enough for the interior of a DAG of several GiB. */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024
/** Mirrors one manifest may list: a release's few web servers and gateways, not a list to scan. */
export const MAX_MIRRORS = 32
/** Dependencies one manifest may name (releases installed in the same repository). */
export const MAX_DEPS = 1024
/** A mirror's URL at most this many characters (what browsers and servers commonly accept). */
export const MAX_MIRROR_URL = 2048
