/**
 * Run after the test suite under c8: fails when an exported function or an exported class's method in src/
 * was never called by any test. Reads c8's coverage/coverage-final.json (istanbul format, source-mapped).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

interface FileCoverage { fnMap: Record<string, { name: string, decl: { start: { line: number } } }>, f: Record<string, number> }

const root = resolve(import.meta.dirname, '..', '..')
const coverageFile = join(root, 'coverage', 'coverage-final.json')
if (!existsSync(coverageFile)) {
  console.error(`coverage-check: ${coverageFile} is missing; run it through npm test`)
  process.exit(1)
}
const coverage = JSON.parse(readFileSync(coverageFile, 'utf8')) as Record<string, FileCoverage>

function * sources (dir: string): Generator<string> {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name)
    if (d.isDirectory()) yield * sources(p)
    else if (d.name.endsWith('.ts') && !d.name.endsWith('.d.ts')) yield p
  }
}

/** Names (and declaration lines) of exported functions and of the methods of exported classes. */
function exportedFunctions (text: string): Array<{ name: string, line: number }> {
  const out: Array<{ name: string, line: number }> = []
  const lines = text.split('\n')
  let inClass = false
  lines.forEach((line, i) => {
    const fn = /^export (?:async )?function\*? ?(\w+)/.exec(line)
    if (fn !== null) out.push({ name: fn[1]!, line: i + 1 })
    if (/^export (?:abstract )?class /.test(line)) { inClass = true; return }
    if (inClass && line.startsWith('}')) inClass = false
    const method = inClass ? /^ {2}(?:async )?\*? ?(?:get |set )?([a-zA-Z]\w*) \(/.exec(line) : null
    if (method !== null && method[1] !== 'constructor') out.push({ name: method[1]!, line: i + 1 })
  })
  return out
}

const missed: string[] = []
let checked = 0
for (const file of sources(join(root, 'src'))) {
  const cov = coverage[file]
  const wanted = exportedFunctions(readFileSync(file, 'utf8'))
  if (wanted.length === 0) continue
  for (const w of wanted) {
    checked++
    const hits = cov === undefined
      ? []
      : Object.entries(cov.fnMap).filter(([, fn]) => Math.abs(fn.decl.start.line - w.line) <= 1).map(([id]) => cov.f[id] ?? 0)
    if (hits.length === 0 || hits.every(h => h === 0)) missed.push(`${relative(root, file)}:${w.line} ${w.name}`)
  }
}
if (missed.length > 0) {
  console.error(`coverage-check: ${missed.length} of ${checked} exported functions/methods were never called by a test:`)
  for (const m of missed) console.error(`  ${m}`)
  process.exit(1)
}
console.log(`coverage-check: all ${checked} exported functions and methods of src/ are exercised by tests`)
