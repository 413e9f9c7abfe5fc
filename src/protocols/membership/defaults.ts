// The membership protocol every node runs: the master is the bootstrap registry, every other node
// registers with it (and with --seed). Timings can be tuned for every node a launcher starts, child
// processes included, through the environment: DISTLAB_MEMBERSHIP='{"probeIntervalMs": 200}'.
import type { ProtocolFactory } from '../../core/interfaces.js'
import type { ProtocolContext } from '../defaults.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { membership, TUNABLE_OPTIONS, type MembershipInit } from './index.js'

export const MEMBERSHIP_ENV = 'DISTLAB_MEMBERSHIP'

/** The tunings in DISTLAB_MEMBERSHIP (a JSON object of numbers); bad ones are a clear error. */
export function membershipTuning(env: NodeJS.ProcessEnv = process.env): MembershipInit {
  const text = env[MEMBERSHIP_ENV]
  if (!text) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new InvalidArgumentError(
      `${MEMBERSHIP_ENV} must be a JSON object, got ${text.slice(0, 60)}`,
      MEMBERSHIP_ENV,
    )
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InvalidArgumentError(`${MEMBERSHIP_ENV} must be a JSON object`, MEMBERSHIP_ENV)
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(parsed)) {
    if (!(TUNABLE_OPTIONS as readonly string[]).includes(k))
      throw new InvalidArgumentError(
        `${MEMBERSHIP_ENV}: unknown option ${k} (known: ${TUNABLE_OPTIONS.join(', ')})`,
        MEMBERSHIP_ENV,
      )
    if (typeof v !== 'number')
      throw new InvalidArgumentError(`${MEMBERSHIP_ENV}: ${k} must be a number`, MEMBERSHIP_ENV)
    out[k] = v
  }
  return out as MembershipInit
}

export function membershipProtocols(ctx: ProtocolContext): ProtocolFactory[] {
  return [
    membership({
      ...membershipTuning(),
      registry: ctx.role === 'master',
      bootstrapUrl: ctx.role === 'master' ? undefined : ctx.masterUrl,
      seedUrl: ctx.seedUrl,
    }),
  ]
}
