// Containers, swarm and kubernetes (issue 8): `distlab deploy image|compose|k8s`, and the
// `up --mode docker|swarm` / `down` of container clusters that `distlab up` and `down` hand over.
import type { Command } from 'commander'
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import {
  DEFAULT_BASE_IMAGE,
  DEFAULT_IMAGE,
  DEFAULT_PROJECT,
  DockerCluster,
  NETWORK_NAME,
  buildImage,
  composeDown,
  composeYaml,
  keptNetworkLine,
  requireDocker,
  type KeptNetwork,
} from '../../cluster/docker.js'
import { resolveBaseImage } from '../../cluster/image-base.js'
import { DEFAULT_STACK, OVERLAY_NETWORK, SwarmCluster, leaveSwarm, removeStack } from '../../cluster/swarm.js'
import { writeK8sManifests } from '../../cluster/k8s.js'
import {
  isAlive,
  nodeUrl,
  removeCluster,
  type ContainerClusterRecord,
  type NodeRecord,
} from '../../cluster/state.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { KEY_ENV, Keyring } from '../../core/auth.js'
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT } from '../../monitor/constants.js'
import { cliName, color, colorFor, formatDuration, printJson, Progress, printTable } from '../output.js'
import { stateDirOf, intFlag } from '../context.js'

function printContainers(nodes: NodeRecord[]): void {
  printTable(
    ['NAME', 'ID', 'ADDRESS', 'HTTP', 'FRAMES (UDP+TCP)'],
    nodes.map((n) => [n.name, n.id ?? '?', n.host, nodeUrl(n), `${n.host}:${n.framePort}`]),
  )
}

type UpOptions = { nodes: number; mode: string; json?: boolean; key?: string; dashboardPort?: number }

/** The compose project or swarm stack `up --mode docker|swarm` runs; names from the environment when set. */
function containerCluster(
  o: UpOptions,
  dir: string,
  key: string | undefined,
  dashboard: { host: string; port: number },
  onProgress: (healthy: number) => void,
  onLine: ((name: string, line: string) => void) | undefined,
): SwarmCluster | DockerCluster {
  const common = {
    nodes: o.nodes,
    stateDir: dir,
    image: process.env.DISTLAB_IMAGE ?? DEFAULT_IMAGE,
    key,
    dashboard,
    onProgress,
    onLine,
  }
  return o.mode === 'swarm'
    ? new SwarmCluster({
        ...common,
        stack: process.env.DISTLAB_PROJECT ?? DEFAULT_STACK,
        network: process.env.DISTLAB_NETWORK ?? OVERLAY_NETWORK,
      })
    : new DockerCluster({
        ...common,
        project: process.env.DISTLAB_PROJECT ?? DEFAULT_PROJECT,
        network: process.env.DISTLAB_NETWORK ?? NETWORK_NAME,
      })
}

/** What `up` prints once every container is healthy: the table, the dashboard and what to try. */
function printUp(
  o: UpOptions,
  dir: string,
  key: string | undefined,
  nodes: NodeRecord[],
  rec: ContainerClusterRecord,
  healthyMs: number,
): void {
  const supervised = process.env.DISTLAB_SUPERVISED === '1'
  if (o.json)
    printJson({
      mode: rec.mode,
      stateDir: dir,
      keyed: key !== undefined,
      project: rec.docker.project,
      network: rec.docker.network,
      image: rec.docker.image,
      dashboard: rec.docker.dashboardUrl,
      healthyMs,
      nodes,
    })
  else {
    printContainers(nodes)
    // A keyed cluster's dashboard takes actions only from a page that holds the key's token.
    const page = `${rec.docker.dashboardUrl}/${key === undefined ? '' : `#key=${new Keyring(key).current.token}`}`
    process.stdout.write(`\ndashboard: ${color.bold(page)}\n`)
    process.stdout.write(
      `\n${color.bold(`master + ${o.nodes} nodes up`)} in ${o.mode === 'swarm' ? 'swarm stack' : 'compose project'} ` +
        `${rec.docker.project} on network ${rec.docker.network} (healthy after ${formatDuration(healthyMs)}). Try:\n` +
        `  curl ${nodeUrl(nodes[Math.min(1, o.nodes)]!)}/\n` +
        `  ${cliName()} status    ${cliName()} monitor    ${cliName()} logs node1\n` +
        (key === undefined
          ? color.yellow('the cluster is open (no key): whoever reaches these addresses can call the APIs\n')
          : `cluster key ${new Keyring(key).current.id}: API changes need \`Authorization: Bearer $(distlab token)\`\n`) +
        (supervised ? '' : 'Logs follow; Ctrl-C removes the containers.\n\n'),
    )
  }
}

/**
 * `distlab up --mode docker|swarm` in the foreground: this process is the supervisor (the record's
 * supervisorPid), copies the containers' logs into the state dir, and takes the cluster down on
 * Ctrl-C or SIGTERM (`distlab down`). The image, project and network come from DISTLAB_IMAGE,
 * DISTLAB_PROJECT and DISTLAB_NETWORK when set.
 */
export async function upContainers(cmd: Command, o: UpOptions): Promise<void> {
  const dir = stateDirOf(cmd)
  // As in local mode: --key, else $DISTLAB_KEY; none means an open cluster.
  const key = o.key || process.env[KEY_ENV] || undefined
  if (key !== undefined) new Keyring(key) // a bad key is bad usage (exit 2) before anything starts
  const supervised = process.env.DISTLAB_SUPERVISED === '1'
  // The master's dashboard on the host's loopback, as in local mode.
  const dashboard = { host: DEFAULT_DASHBOARD_HOST, port: o.dashboardPort ?? DEFAULT_DASHBOARD_PORT }
  const width = Math.max(6, `node${o.nodes}`.length)
  const progress = new Progress(`starting ${o.nodes + 1} containers`, o.nodes + 1, {
    enabled: !o.json && !supervised,
  })
  const started = Date.now()
  const onLine =
    supervised || o.json
      ? undefined
      : (name: string, line: string) => {
          const i = name === 'master' ? 0 : Number(name.replace('node', '')) || 0
          process.stdout.write(`${colorFor(i)(name.padEnd(width))} | ${line}\n`)
        }
  const cluster = containerCluster(o, dir, key, dashboard, (h) => progress.update(h), onLine)
  let stopping: Promise<void> | undefined
  const stop = (why: string) => {
    stopping ??= (async () => {
      if (!o.json) process.stdout.write(`\n${why}: removing ${o.nodes + 1} containers...\n`)
      await cluster.stop()
      const kept = cluster instanceof DockerCluster ? cluster.keptNetworks : []
      for (const k of kept) process.stderr.write(`distlab: ${keptNetworkLine(k)}\n`)
      if (!o.json) process.stdout.write(`removed; ${kept.length ? 'no container' : 'nothing'} left running\n`)
      process.exit(0)
    })()
  }
  process.on('SIGINT', () => stop('Ctrl-C'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  await cluster.start()
  progress.done()
  printUp(o, dir, key, cluster.list(), cluster.cluster!, Date.now() - started)
}

/** `distlab down` for a container cluster: stop its supervisor, then make sure nothing is left. */
export async function downContainers(
  cmd: Command,
  rec: ContainerClusterRecord,
  o: { json?: boolean },
): Promise<void> {
  const dir = stateDirOf(cmd)
  if (isAlive(rec.supervisorPid) && rec.supervisorPid !== process.pid) {
    process.kill(rec.supervisorPid, 'SIGTERM')
    const deadline = Date.now() + 180_000
    while (isAlive(rec.supervisorPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
  }
  // The supervisor removes everything; if it was gone (kill -9), this does it.
  await requireDocker()
  let kept: KeptNetwork[] = []
  if (rec.mode === 'swarm') {
    await removeStack(rec.docker.project, rec.docker.network)
    if (rec.docker.initializedSwarm) await leaveSwarm()
  } else {
    // Every container is gone; a network the engine keeps is said, not an error: the next `up` reuses it.
    kept = await composeDown(rec.docker.project, rec.docker.composeFile, { network: rec.docker.network })
    for (const k of kept) process.stderr.write(`distlab: ${keptNetworkLine(k)}\n`)
  }
  removeCluster(dir)
  if (o.json)
    printJson({
      stopped: rec.nodes.length,
      running: false,
      mode: rec.mode,
      networksKept: kept.map((k) => k.name),
    })
  else
    process.stdout.write(
      `removed master and ${rec.nodes.length - 1} node containers (${rec.mode} ${rec.docker.project})\n`,
    )
}

export function registerDeployCommands(program: Command): void {
  const deploy = program
    .command('deploy')
    .description('build the Docker image, write compose files and Kubernetes manifests')
  registerImage(deploy)
  registerCompose(deploy)
  registerK8s(deploy)
}

function registerImage(deploy: Command): void {
  deploy
    .command('image')
    .description(
      'build the image every role runs in (distlab:latest) from deploy/Dockerfile, with the host-built dist/ and production node_modules',
    )
    .option('--tag <tag>', 'image tag', DEFAULT_IMAGE)
    .option(
      '--base <image>',
      'base image (needs the host glibc and Node 20); the default one, when no registry is reachable, is imported from this host as with --local-base',
      DEFAULT_BASE_IMAGE,
    )
    .option(
      '--local-base',
      'no registry: build the base by `docker import` of this host node binary and its libraries (cached by tag)',
    )
    .option('--rebuild-base', 'with --local-base: import the base again even when its tag exists')
    .option('--json', 'print {tag, baseImage, baseSource, buildId, sizeBytes, contextBytes, seconds}')
    .action(imageAction)
}

async function imageAction(o: {
  tag: string
  base: string
  localBase?: boolean
  rebuildBase?: boolean
  json?: boolean
}): Promise<void> {
  await requireDocker()
  const t0 = Date.now()
  // No registry reachable (the default base cannot be pulled): the base is imported from
  // this host's node, as scripts/docker-build-image.sh does, and one line says so.
  const b = await resolveBaseImage({
    base: o.base,
    localBase: o.localBase,
    rebuildBase: o.rebuildBase,
    fallback: o.base === DEFAULT_BASE_IMAGE,
  })
  const base = b.tag
  // On stderr also with --json: a script's output stays one JSON object.
  if (b.reason)
    process.stderr.write(
      `no registry reachable (${b.reason}): building FROM ${b.tag}, ${b.built ? 'imported now' : 'imported earlier'} from this host's node\n`,
    )
  else if (!o.json && b.source === 'local-base')
    process.stderr.write(`${b.built ? 'imported' : 'using cached'} base image ${b.tag}\n`)
  if (!o.json) process.stderr.write(`building ${o.tag} FROM ${base} ...\n`)
  const r = await buildImage({ tag: o.tag, baseImage: base })
  const seconds = (Date.now() - t0) / 1000
  if (o.json)
    printJson({
      tag: r.tag,
      baseImage: r.baseImage,
      baseSource: b.source,
      buildId: r.buildId,
      sizeBytes: r.sizeBytes,
      contextBytes: r.context.bytes,
      seconds,
    })
  else
    process.stdout.write(
      `built ${r.tag} (${(r.sizeBytes / 1e6).toFixed(1)} MB, context ${(r.context.bytes / 1e6).toFixed(1)} MB) FROM ${r.baseImage} in ${seconds.toFixed(1)} s\n`,
    )
}

function registerCompose(deploy: Command): void {
  deploy
    .command('compose')
    .description(
      'print (or write) the compose file `distlab up --mode docker` runs: master + node1..nodeN on Proj1-distributed-network',
    )
    .addOption(intFlag('-n, --nodes <n>', 'number of nodes besides the master', [1, 1000], 4))
    .option('--image <tag>', 'image', DEFAULT_IMAGE)
    .option('--network <name>', 'network name', NETWORK_NAME)
    .option('--publish <host>', "publish the master's API (5000) and dashboard (8080) on this host address")
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .action((o: { nodes: number; image: string; network: string; publish?: string; out?: string }) => {
      const text = composeYaml({ nodes: o.nodes, image: o.image, network: o.network, publishHost: o.publish })
      if (!o.out) return void process.stdout.write(text)
      writeFileSync(o.out, text)
      process.stdout.write(
        `wrote ${resolve(o.out)}: DISTLAB_KEY=<secret> docker compose -f ${o.out} up -d (or DISTLAB_INSECURE=1 for an open cluster)\n`,
      )
    })
}

function registerK8s(deploy: Command): void {
  deploy
    .command('k8s')
    .description(
      'write Kubernetes manifests: nodes as a StatefulSet with a headless Service, the master as a Deployment with a Service, a ConfigMap',
    )
    .addOption(intFlag('-n, --nodes <n>', 'StatefulSet replicas', [1, 10_000], 4))
    .requiredOption('-o, --out <dir>', 'directory to write the manifests to')
    .option('--image <tag>', 'image', DEFAULT_IMAGE)
    .option('--namespace <ns>', 'namespace written into every object (default: kubectl current)')
    .option('--pull <policy>', 'imagePullPolicy: Always, IfNotPresent or Never', 'IfNotPresent')
    .option(
      '--key <secret>',
      `cluster key for the Secret distlab-key (default: $${KEY_ENV}, else a new random one)`,
    )
    .option('--insecure', 'no key and no Secret: an open cluster (DISTLAB_INSECURE=1)')
    .option('--peer-ranges <list>', 'CIDRs the pods live in (default: the private ranges)')
    .option('--json', 'print {dir, files: [{file, kind, name}]}')
    .action(k8sAction)
}

function k8sAction(o: {
  nodes: number
  out: string
  image: string
  namespace?: string
  pull: string
  key?: string
  insecure?: boolean
  peerRanges?: string
  json?: boolean
}): void {
  if (!['Always', 'IfNotPresent', 'Never'].includes(o.pull))
    throw new InvalidArgumentError(`--pull must be Always, IfNotPresent or Never, got ${o.pull}`, '--pull')
  const files = writeK8sManifests(o.out, {
    nodes: o.nodes,
    image: o.image,
    namespace: o.namespace,
    imagePullPolicy: o.pull as 'Always' | 'IfNotPresent' | 'Never',
    key: o.insecure ? undefined : (o.key ?? (process.env[KEY_ENV] || undefined)),
    insecure: o.insecure,
    peerRanges: o.peerRanges,
  })
  if (o.json) printJson({ dir: resolve(o.out), files })
  else {
    printTable(
      ['FILE', 'KIND', 'NAME'],
      files.map((f) => [f.file, f.kind, f.name]),
    )
    process.stdout.write(`\napply with: kubectl apply -f ${o.out}\n`)
  }
}
