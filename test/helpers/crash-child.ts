// Child process for the crash-safety test: imports files into a repo until it is killed.
import { createStore } from '../../src/store/index.js'
import { importBytes, importPath } from '../../src/dag/importer.js'
import { pseudoRandom } from './temp.js'

const [repo, path, seed] = process.argv.slice(2) as [string, string, string]
const store = createStore({ repo })
process.stdout.write('ready\n')
// a directory import, then fresh random content: both keep many write transactions in flight
await importPath(store, path, { chunker: { minSize: 256, avgSize: 1024, maxSize: 4096 } })
for (let i = 0; ; i++) {
  await importBytes(store, pseudoRandom(2_000_000, Number(seed) * 1000 + i), { chunker: { minSize: 256, avgSize: 1024, maxSize: 4096 }, pin: i % 2 === 0 })
}
