// `distlab master` and `distlab node`: one role in the foreground. This is what the launcher spawns
// and what a container runs.
import type { Command } from 'commander'
import { createNode } from '../../cluster/node-assembly.js'
import { createRootLogger, type LogFormat } from '../../core/logger.js'
import { MASTER_NAME } from '../../core/ids.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { addListenOptions, stateDirOf, stopOnSignals, intFlag } from '../context.js'
import { defaultProtocols } from '../../protocols/defaults.js'
import { KEY_ENV } from '../../core/auth.js'
import { checkExposure, INSECURE_ENV, PEER_RANGES_ENV, splitList } from '../../core/url-guard.js'
import { DEFAULT_DASHBOARD_HOST } from '../../monitor/constants.js'
import { CONTROL_TOKEN_ENV } from '../../cluster/state.js'
import { addMembershipFlags, membershipFromCli, type MembershipFlags } from '../membership-flags.js'
import { holdRequested, startProtocolsOnWord } from '../../cluster/hold.js'

interface RoleOptions extends MembershipFlags {
  name: string
  host: string
  port: number
  framePort: number
  advertise?: string
  bootstrap?: string
  seed?: string
  dashboardPort?: number
  id?: string
  logFormat: LogFormat
  logLevel: string
  key?: string
  bind?: string
  insecure?: boolean
  peerRanges?: string
}

export async function runRole(role: 'master' | 'node', o: RoleOptions, stateDir?: string): Promise<void> {
  if (o.logFormat !== 'pretty' && o.logFormat !== 'json')
    throw new InvalidArgumentError(`--log-format must be pretty or json, got ${o.logFormat}`)
  const membership = membershipFromCli(o)
  const logger = createRootLogger({
    format: o.logFormat,
    level: o.logLevel,
    write: (l) => process.stdout.write(l),
  })
  // The key comes from the environment by preference: a flag shows in `ps`.
  const key = o.key || process.env[KEY_ENV] || undefined
  const dashboardHost = o.bind ?? DEFAULT_DASHBOARD_HOST
  checkExposure({
    binds: [
      { flag: '--host', host: o.host },
      { flag: '--bind', host: o.bind ?? o.host },
      ...(role === 'master' ? [{ flag: '--bind (dashboard)', host: dashboardHost }] : []),
    ],
    keyed: key !== undefined,
    insecure: o.insecure === true || process.env[INSECURE_ENV] === '1',
  })
  // Started by `up` among many: the protocols wait for its word (cluster/hold.ts).
  const hold = holdRequested()
  const node = createNode({
    holdProtocols: hold,
    key,
    httpHost: o.bind,
    peerRanges: splitList(o.peerRanges),
    name: o.name,
    role,
    id: o.id,
    host: o.host,
    advertiseHost: o.advertise,
    httpPort: o.port,
    framePort: o.framePort,
    masterUrl: o.bootstrap,
    logger,
    protocols: defaultProtocols({ role, name: o.name, masterUrl: o.bootstrap, seedUrl: o.seed, membership }),
  })
  const started = node.start()
  if (hold) startProtocolsOnWord(node, started)
  await started
  const extras =
    role === 'master'
      ? // Only the master loads the run store (SQLite) and the dashboard: a node starts without them.
        await (
          await import('../../monitor/master-extras.js')
        ).startMasterExtras(node, {
          dashboardHost,
          stateDir,
          dashboardPort: o.dashboardPort,
          controlUrl: process.env.DISTLAB_CONTROL_URL,
          controlToken: process.env[CONTROL_TOKEN_ENV],
        })
      : undefined
  stopOnSignals(async () => {
    await extras?.stop().catch(() => {})
    await node.stop()
  })
}

function roleOptions(cmd: Command, defaults: { name: string }): Command {
  return addListenOptions(
    addMembershipFlags(cmd).option('--name <name>', 'node name, unique in the cluster', defaults.name),
  )
    .option(
      '--advertise <host>',
      'address other nodes use to reach this one (default: --host, or the hostname when binding 0.0.0.0)',
    )
    .option('--id <uuid>', 'node id (default: a new UUID v4)')
    .option('--log-format <format>', 'pretty or json', 'pretty')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .option('--key <secret>', `cluster key: authenticate frames and guard the API (better: $${KEY_ENV})`)
    .option('--bind <addr>', 'address the HTTP API and dashboard bind (default: --host; dashboard 127.0.0.1)')
    .option('--insecure', `allow listening beyond loopback without a cluster key (or $${INSECURE_ENV}=1)`)
    .option(
      '--peer-ranges <list>',
      `peer URL ranges allowed besides loopback: CIDRs, addresses, host names (or $${PEER_RANGES_ENV})`,
    )
}

export function registerRoleCommands(program: Command): void {
  roleOptions(
    program
      .command('master')
      .description('run the master (cluster registry, telemetry collector, dashboard) in the foreground'),
    { name: MASTER_NAME },
  )
    .addOption(intFlag('--dashboard-port <port>', 'dashboard port', [0, 65535], 8080))
    .action(async (o: RoleOptions, cmd: Command) => runRole('master', o, stateDirOf(cmd)))
  roleOptions(program.command('node').description('run one node in the foreground'), { name: 'node1' })
    .option(
      '--bootstrap <url>',
      "the master's URL, to join the cluster and send telemetry (e.g. http://127.0.1.1:5000)",
    )
    .option('--seed <url>', 'a live peer to join through when the bootstrap is gone')
    .action(async (o: RoleOptions, cmd: Command) => runRole('node', o, stateDirOf(cmd)))
}
