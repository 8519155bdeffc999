#!/usr/bin/env node
// The cmesh command: compiled TypeScript lives in dist/ (built by `npm install` through the prepare script).
import { main } from '../dist/src/cli/main.js'

process.stdout.on('error', err => { if (err.code === 'EPIPE') process.exit(0) })
process.exitCode = await main(process.argv.slice(2))
