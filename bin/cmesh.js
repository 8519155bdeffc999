#!/usr/bin/env -S node --max-semi-space-size=2
// A 2 MiB young generation (Node's default grows to 16 MiB): importing 1 GiB then peaks at about 180 MB resident
// instead of 205 MB, at the same speed (bench:ingest). The flag applies when the kernel runs this file (a global
// install, npx) and in `npm run cmesh`; `node bin/cmesh.js` runs with Node's defaults.
// The cmesh command: compiled TypeScript lives in dist/ (built by `npm install` through the prepare script).
import { statSync } from 'node:fs'
import module from 'node:module'

// V8's compiled code for our modules and our dependencies, cached on disk (in the OS temp directory): a command
// starts faster from the second run on. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.()
// the bundle of dist/src (scripts/bundle.mjs, built with it by `npm run build`) starts a node in half the time the
// thousand modules take one by one. The modules themselves run with CMESH_NO_BUNDLE=1 (the tests, for coverage),
// and when the bundle is missing or older than them (tsc was run alone since)
const mtime = path => { try { return statSync(new URL(path, import.meta.url)).mtimeMs } catch { return -1 } }
const bundled = process.env.CMESH_NO_BUNDLE !== '1' && mtime('../dist/bundle/cmesh.js') >= mtime('../dist/src/cli/main.js')
const entry = bundled ? '../dist/bundle/cmesh.js' : '../dist/src/cli/main.js'
const { callerDirectory, main } = await import(entry)

// `npm run -s cmesh -- add ./dir` runs in the package's directory: paths are the caller's, so resolve them there
const caller = callerDirectory()
if (caller !== undefined) process.chdir(caller)

process.stdout.on('error', err => { if (err.code === 'EPIPE') process.exit(0) })
process.exitCode = await main(process.argv.slice(2))
// the command has closed what it opened: it ends once its output is written, not when every timer a library left
// has fired (libp2p's components leave 1 s debounce timers behind when a node stops, a second on every network command)
for (const stream of [process.stdout, process.stderr]) await new Promise(resolve => stream.write('', resolve))
process.exit()
