import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { describe, it } from 'node:test'

/**
 * The layering of src/: each layer imports only layers below it (repo <- store <- dag <- policy <- sync <- analytics <-
 * node <- daemon <- cli), and no two files import each other, however long the way round. Type imports count too: a
 * type that runs back up is a design that does.
 */
const root = join(import.meta.dirname, '..', '..', 'src')

const LAYERS: Array<[prefix: string, layer: number]> = [
  ['errors.ts', 0], ['clock.ts', 0], ['repo/', 1], ['store/', 2], ['dag/', 3], ['policy/', 4], ['sync/', 5], ['analytics/', 6],
  ['node/', 7], ['daemon/', 8], ['cli/', 9], ['index.ts', 9]
]

function layerOf (file: string): number {
  const hit = LAYERS.find(([prefix]) => file === prefix || file.startsWith(prefix))
  if (hit === undefined) throw new Error(`${file} is in no layer: add its folder to LAYERS`)
  return hit[1]
}

function * sources (dir: string): Generator<string> {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name)
    if (d.isDirectory()) yield * sources(p)
    else if (d.name.endsWith('.ts') && !d.name.endsWith('.d.ts')) yield relative(root, p)
  }
}

/** The files of src/ a file imports (relative specifiers only: packages are not layers). */
function importsOf (file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g)) {
    out.push(normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts'))
  }
  return out
}

describe('layers of src/', () => {
  const files = [...sources(root)]
  const graph = new Map(files.map(f => [f, importsOf(f)]))

  it('has no import that runs back up a layer', () => {
    const up: string[] = []
    for (const [file, targets] of graph) {
      for (const target of targets) if (layerOf(target) > layerOf(file)) up.push(`${file} -> ${target}`)
    }
    assert.deepEqual(up, [])
  })

  it('has no cycle of imports between files', () => {
    const cycles: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const path: string[] = []
    const visit = (file: string): void => {
      state.set(file, 'open')
      path.push(file)
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '))
        else if (state.get(next) === undefined && graph.has(next)) visit(next)
      }
      path.pop()
      state.set(file, 'done')
    }
    for (const file of files) if (state.get(file) === undefined) visit(file)
    assert.deepEqual(cycles, [])
  })

  it('finds the imports it judges (the check itself can fail)', () => {
    assert.ok(files.length > 100)
    assert.ok(graph.get('node/node.ts')!.some(t => t.startsWith('sync/')), 'node/node.ts imports the sync layer')
    assert.throws(() => layerOf('elsewhere/x.ts'))
  })
})
