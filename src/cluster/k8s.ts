// Kubernetes manifests for a distlab cluster: the master as a Deployment behind a Service (the
// bootstrap every node joins through, by its DNS name), the nodes as a StatefulSet with a headless
// Service so that each has a stable DNS name (node-0.node, node-1.node, ...), and a ConfigMap with
// the cluster's settings. Plain objects: `kubectl apply -f <dir>` takes the files as written.
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { checkInteger, checkString } from '../core/options.js'
import { InvalidArgumentError } from '../core/errors.js'
import { DEFAULT_FRAME_PORT, DEFAULT_HTTP_PORT, MASTER_NAME } from '../core/ids.js'
import { DEFAULT_IMAGE, IMAGE_UID } from './docker.js'
import { containerCommand } from './docker-compose-spec.js'

export const K8S_APP_LABEL = 'distlab'
export const K8S_NODE_SERVICE = 'node'
export const K8S_CONFIGMAP = 'distlab-config'
export const DASHBOARD_PORT = 8080
/** RFC 1123 label: what Kubernetes accepts as a namespace name. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export interface K8sInit {
  /** Nodes besides the master (StatefulSet replicas). @default 4 */
  nodes?: number
  /** @default distlab:latest */
  image?: string
  /** Namespace written into every object; none means kubectl's current one. */
  namespace?: string
  /** @default IfNotPresent (a locally loaded image works on kind/minikube) */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never'
  /** Log format of the containers. @default json */
  logFormat?: 'pretty' | 'json'
  /** Cluster key, stored in the Secret distlab-key. @default a new random one */
  key?: string
  /** No key and no Secret: an open cluster (DISTLAB_INSECURE=1). @default false */
  insecure?: boolean
  /**
   * Address ranges peers may live in (pods of other machines are outside a pod's own subnet).
   * @default the private ranges 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16
   */
  peerRanges?: string
}

export interface K8sOptions {
  nodes: number
  image: string
  namespace?: string
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never'
  logFormat: 'pretty' | 'json'
  key?: string
  insecure: boolean
  peerRanges: string
}

export const K8S_KEY_SECRET = 'distlab-key'
export const DEFAULT_PEER_RANGES = '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16'

export function resolveK8sOptions(init: K8sInit = {}): K8sOptions {
  const pull = init.imagePullPolicy ?? 'IfNotPresent'
  if (!['Always', 'IfNotPresent', 'Never'].includes(pull))
    throw new InvalidArgumentError(
      `imagePullPolicy must be Always, IfNotPresent or Never, got ${String(pull)}`,
      'imagePullPolicy',
    )
  return Object.freeze({
    nodes: checkInteger('nodes', init.nodes ?? 4, 1, 10_000),
    image: checkString('image', init.image ?? DEFAULT_IMAGE, /^\S+$/),
    namespace: init.namespace === undefined ? undefined : checkString('namespace', init.namespace, DNS_LABEL),
    imagePullPolicy: pull,
    logFormat: init.logFormat ?? 'json',
    insecure: init.insecure === true,
    key:
      init.insecure === true
        ? undefined
        : init.key === undefined
          ? randomBytes(16).toString('hex')
          : checkString('key', init.key, /^\S{8,}$/),
    peerRanges: checkString('peerRanges', init.peerRanges ?? DEFAULT_PEER_RANGES, /^[0-9A-Za-z.:/,_-]+$/),
  })
}

type K8sObject = {
  apiVersion: string
  kind: string
  metadata: { name: string } & Record<string, unknown>
} & Record<string, unknown>

const labels = (role: string) => ({ app: K8S_APP_LABEL, 'app.kubernetes.io/name': K8S_APP_LABEL, role })

function meta(name: string, role: string, o: K8sOptions): K8sObject['metadata'] {
  return { name, ...(o.namespace ? { namespace: o.namespace } : {}), labels: labels(role) }
}

function containerPorts() {
  return [
    { name: 'http', containerPort: DEFAULT_HTTP_PORT, protocol: 'TCP' },
    { name: 'frames-tcp', containerPort: DEFAULT_FRAME_PORT, protocol: 'TCP' },
    { name: 'frames-udp', containerPort: DEFAULT_FRAME_PORT, protocol: 'UDP' },
  ]
}

const podSecurity = {
  runAsNonRoot: true,
  runAsUser: IMAGE_UID,
  runAsGroup: IMAGE_UID,
  fsGroup: IMAGE_UID,
}

const containerSecurity = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }

function probes() {
  const get = { path: '/health', port: 'http' }
  return {
    readinessProbe: { httpGet: get, initialDelaySeconds: 2, periodSeconds: 5, timeoutSeconds: 3 },
    livenessProbe: {
      httpGet: get,
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 3,
      failureThreshold: 3,
    },
  }
}

/** Every object of the cluster, in the order `kubectl apply` should create them. */
export function k8sManifests(init: K8sInit = {}): K8sObject[] {
  const o = resolveK8sOptions(init)
  const secret = keySecret(o)
  const pod: PodEnv = {
    env: podEnv(secret !== undefined),
    envFrom: [{ configMapRef: { name: K8S_CONFIGMAP } }],
  }
  return [
    configMapOf(o),
    ...(secret ? [secret] : []),
    masterServiceOf(o),
    masterDeployment(o, pod),
    nodeServiceOf(o),
    nodeStatefulSet(o, pod),
  ]
}

/** What every pod's container takes from the downward API, the key's Secret and the ConfigMap. */
interface PodEnv {
  env: object[]
  envFrom: object[]
}

/** The settings every pod reads from its environment. */
function configMapOf(o: K8sOptions): K8sObject {
  const bootstrap = `http://${MASTER_NAME}:${DEFAULT_HTTP_PORT}`
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(K8S_CONFIGMAP, 'config', o),
    data: {
      DISTLAB_BOOTSTRAP: bootstrap,
      DISTLAB_NODES: String(o.nodes),
      DISTLAB_LOG_FORMAT: o.logFormat,
      DISTLAB_HTTP_PORT: String(DEFAULT_HTTP_PORT),
      DISTLAB_FRAME_PORT: String(DEFAULT_FRAME_PORT),
      DISTLAB_HEALTH_PORT: String(DEFAULT_HTTP_PORT),
      DISTLAB_PEER_RANGES: o.peerRanges,
      DISTLAB_INSECURE: o.insecure ? '1' : '0',
    },
  }
}

/** The cluster key as a Secret (none for an open cluster). */
function keySecret(o: K8sOptions): K8sObject | undefined {
  if (o.key === undefined) return undefined
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(K8S_KEY_SECRET, 'config', o),
    type: 'Opaque',
    stringData: { DISTLAB_KEY: o.key },
  }
}

function podEnv(keyed: boolean): object[] {
  return [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ...(keyed
      ? [{ name: 'DISTLAB_KEY', valueFrom: { secretKeyRef: { name: K8S_KEY_SECRET, key: 'DISTLAB_KEY' } } }]
      : []),
  ]
}

function masterDeployment(o: K8sOptions, { env, envFrom }: PodEnv): K8sObject {
  return workload(
    o,
    { kind: 'Deployment', name: MASTER_NAME, role: 'master' },
    // One registry at a time: the old master goes before the new one starts.
    { replicas: 1, strategy: { type: 'Recreate' } },
    {},
    {
      name: MASTER_NAME,
      args: containerCommand('master', {
        name: MASTER_NAME,
        advertise: MASTER_NAME,
        logFormat: '$(DISTLAB_LOG_FORMAT)',
      }),
      env,
      envFrom,
      ports: [...containerPorts(), { name: 'dashboard', containerPort: DASHBOARD_PORT, protocol: 'TCP' }],
      resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
    },
  )
}

function nodeStatefulSet(o: K8sOptions, { env, envFrom }: PodEnv): K8sObject {
  return workload(
    o,
    { kind: 'StatefulSet', name: K8S_NODE_SERVICE, role: 'node' },
    // Peers need no start order: all start at once, as with `docker compose up`.
    { serviceName: K8S_NODE_SERVICE, replicas: o.nodes, podManagementPolicy: 'Parallel' },
    { terminationGracePeriodSeconds: 10 },
    {
      name: 'node',
      args: containerCommand('node', {
        name: '$(POD_NAME)',
        advertise: `$(POD_NAME).${K8S_NODE_SERVICE}`,
        bootstrap: '$(DISTLAB_BOOTSTRAP)',
        logFormat: '$(DISTLAB_LOG_FORMAT)',
      }),
      env,
      envFrom,
      ports: containerPorts(),
      resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    },
  )
}

/**
 * A Deployment or StatefulSet of one role: pods of one distlab container, with the image, the
 * probes and the security settings every workload here shares.
 */
function workload(
  o: K8sOptions,
  w: { kind: string; name: string; role: string },
  spec: object,
  pod: object,
  container: object,
): K8sObject {
  return {
    apiVersion: 'apps/v1',
    kind: w.kind,
    metadata: meta(w.name, w.role, o),
    spec: {
      ...spec,
      selector: { matchLabels: labels(w.role) },
      template: {
        metadata: { labels: labels(w.role) },
        spec: {
          securityContext: podSecurity,
          ...pod,
          containers: [
            {
              image: o.image,
              imagePullPolicy: o.imagePullPolicy,
              ...container,
              ...probes(),
              securityContext: containerSecurity,
            },
          ],
        },
      },
    },
  }
}

/** The ports of a Service over master or nodes (the master's adds its dashboard). */
function servicePorts(dashboard: boolean): object[] {
  return [
    { name: 'http', port: DEFAULT_HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
    { name: 'frames-tcp', port: DEFAULT_FRAME_PORT, targetPort: 'frames-tcp', protocol: 'TCP' },
    { name: 'frames-udp', port: DEFAULT_FRAME_PORT, targetPort: 'frames-udp', protocol: 'UDP' },
    ...(dashboard
      ? [{ name: 'dashboard', port: DASHBOARD_PORT, targetPort: 'dashboard', protocol: 'TCP' }]
      : []),
  ]
}

function masterServiceOf(o: K8sOptions): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(MASTER_NAME, 'master', o),
    spec: { type: 'ClusterIP', selector: labels('master'), ports: servicePorts(true) },
  }
}

function nodeServiceOf(o: K8sOptions): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(K8S_NODE_SERVICE, 'node', o),
    spec: {
      // Headless: a DNS record per pod (node-3.node), no virtual IP; discovery, not load balancing.
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: labels('node'),
      ports: servicePorts(false),
    },
  }
}

export interface WrittenManifest {
  file: string
  kind: string
  name: string
}

/** Writes one YAML file per object (00-configmap-distlab-config.yaml, ...); returns what it wrote. */
export function writeK8sManifests(dir: string, init: K8sInit = {}): WrittenManifest[] {
  const objects = k8sManifests(init)
  mkdirSync(dir, { recursive: true })
  return objects.map((obj, i) => {
    const file = join(
      dir,
      `${String(i).padStart(2, '0')}-${obj.kind.toLowerCase()}-${obj.metadata.name}.yaml`,
    )
    const text = `# Generated by \`distlab deploy k8s\`.\n${stringify(obj, { lineWidth: 0 })}`
    // The Secret holds the cluster key: readable by its owner only.
    writeFileSync(file, text, { mode: obj.kind === 'Secret' ? 0o600 : 0o644 })
    return { file, kind: obj.kind, name: obj.metadata.name }
  })
}
