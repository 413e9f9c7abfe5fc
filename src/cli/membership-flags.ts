// The membership flags of every command that starts nodes (`distlab master`, `node`, `bootstrap`,
// `p2p`, `up`): a named profile, single options, and DISTLAB_MEMBERSHIP as a convenience for a
// shell (read here, in the CLI, never in the library). Flags win over the environment.
import type { Command } from 'commander'
import { InvalidArgumentError } from '../core/errors.js'
import {
  MEMBERSHIP_PROFILES,
  TUNABLE_OPTIONS,
  membershipProfile,
  parseMembershipOption,
  resolveMembershipOptions,
  type MembershipInit,
  type MembershipProfileName,
} from '../protocols/membership/options.js'

export const MEMBERSHIP_ENV = 'DISTLAB_MEMBERSHIP'

export interface MembershipFlags {
  membershipProfile?: string
  membershipOption?: string[]
}

const collect = (v: string, prev: string[] = []) => prev.concat([v])

/** Adds --membership-profile and --membership-option to a command. */
export function addMembershipFlags(cmd: Command): Command {
  return cmd
    .option(
      '--membership-profile <name>',
      `membership timings: ${[...MEMBERSHIP_PROFILES.keys()].join(' or ')} (local: fast, for many nodes on one machine) (default: lan, or $${MEMBERSHIP_ENV}'s "profile")`,
    )
    .option(
      '--membership-option <name=value>',
      `one membership option over the profile, repeatable (probeIntervalMs=200; see docs/membership.md)`,
      collect,
    )
}

/** `{"profile": "local", "probeIntervalMs": 200}` from the environment; bad text is a clear error. */
function fromEnv(text: string | undefined): MembershipInit {
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
  const out: MembershipInit = {}
  for (const [k, v] of Object.entries(parsed)) {
    if (k === 'profile') {
      membershipProfile(v, `${MEMBERSHIP_ENV}: profile`)
      out.profile = v as MembershipProfileName
      continue
    }
    if (!(TUNABLE_OPTIONS as readonly string[]).includes(k))
      throw new InvalidArgumentError(
        `${MEMBERSHIP_ENV}: unknown option ${k.slice(0, 40)} (known: profile, ${TUNABLE_OPTIONS.join(', ')})`,
        MEMBERSHIP_ENV,
      )
    if (typeof v !== 'number')
      throw new InvalidArgumentError(`${MEMBERSHIP_ENV}: ${k} must be a number`, MEMBERSHIP_ENV)
    out[k as (typeof TUNABLE_OPTIONS)[number]] = v
  }
  return out
}

/**
 * The membership options the flags (over $DISTLAB_MEMBERSHIP) ask for, checked as the protocol
 * will check them: a bad profile, name or value is an InvalidArgumentError (exit 2) before
 * anything starts.
 */
export function membershipFromCli(o: MembershipFlags, env: NodeJS.ProcessEnv = process.env): MembershipInit {
  const init = fromEnv(env[MEMBERSHIP_ENV])
  if (o.membershipProfile !== undefined) {
    membershipProfile(o.membershipProfile, '--membership-profile')
    init.profile = o.membershipProfile as MembershipProfileName
  }
  for (const text of o.membershipOption ?? []) {
    const [name, value] = parseMembershipOption(text)
    init[name] = value
  }
  resolveMembershipOptions(init)
  return init
}
