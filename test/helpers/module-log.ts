/**
 * Preloaded into a child process (`node --import <this file>`): records the URL of every module the process loads
 * and writes them, one a line, to the file named by CMESH_MODULE_LOG when it exits. Tests read it to check what a
 * command loads.
 */
import { writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const urls: string[] = []
registerHooks({
  resolve (specifier, context, next) {
    const resolved = next(specifier, context)
    urls.push(resolved.url)
    return resolved
  }
})
process.once('exit', () => {
  const file = process.env.CMESH_MODULE_LOG
  if (file !== undefined) writeFileSync(file, [...new Set(urls)].join('\n'))
})
