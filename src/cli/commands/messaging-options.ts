// Option parsers shared by the messaging commands and their benches: --transport, --strategy,
// --policy and --mode, each a clear usage error on a bad value.
import { InvalidArgumentError } from '../../core/errors.js'
import { POLICIES, type AnycastPolicy } from '../../protocols/anycast/index.js'
import { STRATEGIES, type BroadcastStrategy } from '../../protocols/broadcast/index.js'

export function transportOption(v: string): 'udp' | 'tcp' {
  if (v !== 'udp' && v !== 'tcp') throw new InvalidArgumentError(`--transport must be udp or tcp, got ${v}`)
  return v
}

export function strategyOption(v: string): BroadcastStrategy {
  if (!(STRATEGIES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`--strategy must be one of ${STRATEGIES.join(', ')}, got ${v}`)
  return v as BroadcastStrategy
}

export function policyOption(v: string): AnycastPolicy {
  if (!(POLICIES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`--policy must be one of ${POLICIES.join(', ')}, got ${v}`)
  return v as AnycastPolicy
}

export function modeOption(v: string): 'inproc' | 'process' {
  if (v !== 'inproc' && v !== 'process')
    throw new InvalidArgumentError(`--mode must be inproc or process, got ${v}`)
  return v
}
