import { verifyStore } from '../../dag/verify.js'
import type { Command } from '../command.js'

export const verify: Command = {
  name: 'verify',
  summary: 're-hash every block against its CID and check every complete root has all its blocks',
  usage: 'verify [--json]',
  options: {},
  async run (ctx) {
    const bar = ctx.progress('verify')
    const report = await verifyStore(ctx.openStore(), {
      onProgress: e => { if (e.type === 'verify:blocks') bar.update(e.blocks, e.total, 'items') }
    })
    bar.done()
    if (ctx.options.json) {
      ctx.printJson({
        ok: report.ok,
        blocks: report.blocks,
        bytes: report.bytes,
        corrupt: report.corrupt.map(String),
        incomplete: report.incomplete.map(i => ({ root: i.root.toString(), missing: i.missing.map(String) })),
        malformed: report.malformed.map(m => ({ root: m.root.toString(), reason: m.reason })),
        invalid: report.invalid.map(i => ({ cid: i.cid.toString(), reason: i.reason }))
      })
    } else {
      for (const c of report.corrupt) process.stderr.write(`corrupt block ${c.toString()}\n`)
      for (const i of report.incomplete) process.stderr.write(`root ${i.root.toString()} lacks ${i.missing.length} block(s), e.g. ${i.missing[0]!.toString()}\n`)
      for (const m of report.malformed) process.stderr.write(`root ${m.root.toString()} is malformed: ${m.reason}\n`)
      for (const i of report.invalid) process.stderr.write(`block ${i.cid.toString()} is not a valid node: ${i.reason}\n`)
      if (report.ok) ctx.print(`ok: ${report.blocks} blocks verified`)
    }
    return report.ok ? 0 : 1
  }
}
