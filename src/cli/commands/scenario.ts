// `distlab scenario run <file.yaml>`: start a cluster, run workloads while faults are injected,
// check that nothing acknowledged was lost and nothing was delivered twice, print the verdict.
import type { Command } from 'commander'
import { join } from 'node:path'
import {
  loadScenario,
  runScenario,
  SCENARIO_NETWORK,
  SCENARIO_PROJECT,
  type ScenarioReport,
} from '../../scenario/index.js'
import { color, formatDuration, printJson, table } from '../output.js'
import { stateDirOf, intFlag } from '../context.js'
import { parseDuration } from '../../core/options.js'
import { InvalidArgumentError } from '../../core/errors.js'

interface RunOptions {
  json?: boolean
  block?: number
  mode?: string
  settle?: string
  image?: string
  project?: string
  network?: string
}

const MODES = ['process', 'inproc', 'docker']

function printReport(r: ScenarioReport): void {
  const out = process.stdout
  out.write(
    `\n${color.bold(r.scenario)}: master + ${r.nodes} nodes (${r.mode}${r.keyed ? ', keyed' : ''}), ${r.faults} faults injected, ${formatDuration(r.durationMs)}\n\n`,
  )
  out.write(
    table(
      [
        'WORKLOAD',
        'SENT',
        'ACKED',
        'EXPECTED',
        'DELIVERED',
        'LOST',
        'DUPLICATES',
        'REDELIVERED AFTER RESTART',
      ],
      r.workloads.map((w) => [
        w.kind,
        w.sent,
        w.acknowledged,
        w.expected,
        w.delivered,
        w.lost === 0 ? '0' : color.red(String(w.lost)),
        w.duplicates === 0 ? '0' : color.red(String(w.duplicates)),
        w.redeliveredAfterRestart,
      ]),
    ),
  )
  for (const w of r.workloads) {
    if (w.detail) out.write(`  ${w.kind}: ${w.detail}\n`)
    if (w.lostKeys.length) out.write(`  lost (${w.kind}): ${w.lostKeys.join(', ')}\n`)
  }
  out.write('\n')
  for (const c of r.checks)
    out.write(`${c.passed ? color.green('PASS') : color.red('FAIL')}  ${c.name} (${c.detail})\n`)
  out.write(`\nverdict: ${r.passed ? color.green('PASS') : color.red('FAIL')}\n`)
}

export function registerScenarioCommands(program: Command): void {
  const scenario = program
    .command('scenario')
    .description(
      'fault scenarios: workloads (unicast, broadcast, multicast, p2p, download, anycast) under kill -9, partitions, loss, duplication, reordering, slow nodes, crashed download masters',
    )
  scenario
    .command('run <file>')
    .description(
      'start a cluster, run the scenario, check that nothing acknowledged was lost and nothing was delivered twice (exit 1 if not)',
    )
    .option(
      '--json',
      'print {scenario, nodes, mode, keyed, faults, steps, workloads, checks, passed, durationMs}',
    )
    .addOption(
      intFlag('--block <n>', "second octet of the cluster's addresses (overrides the file)", [0, 255]),
    )
    .option(
      '--mode <mode>',
      'process (a process per node), inproc (all in one process) or docker (compose containers; needs the engine and the image) (overrides the file)',
    )
    .option(
      '--image <tag>',
      'docker mode: the node image (`distlab deploy image` builds it)',
      'distlab:latest',
    )
    .option('--project <name>', 'docker mode: the compose project', SCENARIO_PROJECT)
    .option('--network <name>', 'docker mode: the network the containers share', SCENARIO_NETWORK)
    .option('--settle <duration>', 'time allowed for deliveries to settle at the end (overrides the file)')
    .action(async (file: string, o: RunOptions, cmd: Command) => {
      if (o.mode !== undefined && !MODES.includes(o.mode))
        throw new InvalidArgumentError(`--mode must be process, inproc or docker, got ${o.mode}`, '--mode')
      const s = loadScenario(file)
      const report = await runScenario(s, {
        stateDir: join(stateDirOf(cmd), 'scenario'),
        block: o.block,
        mode: o.mode as 'process' | 'inproc' | 'docker' | undefined,
        containers: { image: o.image, project: o.project, network: o.network },
        settleMs: o.settle === undefined ? undefined : parseDuration('--settle', o.settle),
        onProgress: o.json ? undefined : (line) => process.stdout.write(`${color.dim(line)}\n`),
      })
      if (o.json) printJson(report)
      else printReport(report)
      if (!report.passed) process.exitCode = 1
    })
}
