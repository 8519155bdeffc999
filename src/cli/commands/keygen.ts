import { generatePublisherKey, savePublisherKey, type KeyAlgorithm } from '../../policy/trust/keys.js'
import { UsageError } from '../args.js'
import type { Command } from '../command.js'

export const keygen: Command = {
  name: 'keygen',
  summary: 'make a publisher key (Ed25519, or ECDSA P-256); prints the public key to give to `cmesh trust add`',
  usage: 'keygen -o KEYFILE [--type ed25519|p256] [--json]',
  options: { output: { type: 'string', short: 'o' }, type: { type: 'string' } },
  async run (ctx, values) {
    const file = values.output
    if (typeof file !== 'string') throw new UsageError('keygen: missing -o KEYFILE (where to write the private key)')
    const type = (values.type ?? 'ed25519') as string
    if (type !== 'ed25519' && type !== 'p256') throw new UsageError(`keygen: --type must be ed25519 or p256, got ${type}`)
    const key = generatePublisherKey(type as KeyAlgorithm)
    await savePublisherKey(key, file)
    if (ctx.options.json) ctx.printJson({ publicKey: key.publicKey, alg: key.alg, file })
    else ctx.print(key.publicKey)
  }
}
