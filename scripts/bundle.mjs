/**
 * The `cmesh` command as one bundle (dist/bundle/, built after tsc by `npm run build`): Node resolves, reads and
 * compiles about a thousand modules one by one when a command starts a node of its own, and the bundle halves
 * that start. Its entry is dist/src/cli/main.js; the two worker scripts are entries of their own beside it, where
 * the code that starts them looks for them (`new URL('./chunk-worker.js', import.meta.url)`). Split: each command
 * and each service loaded on demand stays a chunk loaded on demand. Native packages (lmdb, the BLAKE3 binding) and
 * UPnP (it reads its own package.json at run time) load from node_modules as before.
 */
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const outdir = `${root}dist/bundle`
rmSync(outdir, { recursive: true, force: true })
await build({
  absWorkingDir: root,
  entryPoints: {
    cmesh: 'dist/src/cli/main.js',
    'chunk-worker': 'dist/src/dag/chunker/chunk-worker.js',
    'canonical-worker': 'dist/src/dag/archive/canonical-worker.js'
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  chunkNames: '[name]-[hash]',
  external: ['lmdb', '@napi-rs/blake-hash', '@libp2p/upnp-nat'],
  // CommonJS dependencies call require() for Node's own modules: an ES module has none of its own
  banner: { js: "import { createRequire as __cmeshCreateRequire } from 'node:module'; const require = __cmeshCreateRequire(import.meta.url);" },
  logLevel: 'warning'
})
