// The membership protocol every node runs: the master is the bootstrap registry, every other node
// registers with it (and with --seed). Its profile and timings come from the launcher
// (`ctx.membership`, from `--membership-profile` and `--membership-option` on the command line).
import type { ProtocolFactory } from '../../core/interfaces.js'
import type { ProtocolContext } from '../context.js'
import { membership } from './index.js'
import { membershipTimings } from './options.js'

export function membershipProtocols(ctx: ProtocolContext): ProtocolFactory[] {
  return [
    membership({
      ...membershipTimings(ctx.membership ?? {}),
      registry: ctx.role === 'master',
      bootstrapUrl: ctx.role === 'master' ? undefined : ctx.masterUrl,
      seedUrl: ctx.seedUrl,
      directory: ctx.registries,
    }),
  ]
}
