// `distlab deploy k8s`: the manifests are valid Kubernetes objects (checked against the object
// schemas of kubernetes-models) and wired together: the StatefulSet's headless Service, selectors
// that match their pods, the ConfigMap the pods read, a non-root user and /health probes.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { k8sManifests, writeK8sManifests } from '../../src/cluster/k8s.js'
import { runCli, scratchDir } from '../helpers.js'

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<
  string,
  any // eslint-disable-line @typescript-eslint/no-explicit-any
>

/** Validates one object against its Kubernetes schema; throws on the first violation. */
function validate(o: Obj): void {
  const models: Record<string, new (d: never) => { validate(): void }> = {
    'v1/ConfigMap': ConfigMap,
    'v1/Service': Service,
    'v1/Secret': Secret,
    'apps/v1/Deployment': Deployment,
    'apps/v1/StatefulSet': StatefulSet,
  }
  const Model = models[`${o.apiVersion}/${o.kind}`]
  assert.ok(Model, `no schema for ${o.apiVersion}/${o.kind}`)
  new Model(o as never).validate()
}

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function readManifests(dir: string): Obj[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Obj))
}

describe('kubernetes manifests', () => {
  test('every object validates against the Kubernetes schemas', () => {
    const objs = k8sManifests({ nodes: 7, namespace: 'labs' }) as Obj[]
    assert.deepEqual(objs.map((o) => o.kind).sort(), [
      'ConfigMap',
      'Deployment',
      'Secret',
      'Service',
      'Service',
      'StatefulSet',
    ])
    for (const o of objs) {
      validate(o)
      assert.equal(o.metadata.namespace, 'labs')
    }
  })

  test('the cluster key lives in a Secret the pods read; --insecure makes an open cluster without one', () => {
    const objs = k8sManifests({ nodes: 2, key: 'k1:correct-horse-battery' }) as Obj[]
    const secret = objs.find((o) => o.kind === 'Secret')!
    assert.equal(secret.stringData.DISTLAB_KEY, 'k1:correct-horse-battery')
    for (const w of objs.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')) {
      const env = w.spec.template.spec.containers[0].env as Array<{
        name: string
        valueFrom?: { secretKeyRef?: { name: string } }
      }>
      assert.equal(
        env.find((e) => e.name === 'DISTLAB_KEY')?.valueFrom?.secretKeyRef?.name,
        secret.metadata.name,
      )
    }
    // Two runs, two different generated keys.
    const a = (k8sManifests({}) as Obj[]).find((o) => o.kind === 'Secret')!.stringData.DISTLAB_KEY
    const b = (k8sManifests({}) as Obj[]).find((o) => o.kind === 'Secret')!.stringData.DISTLAB_KEY
    assert.notEqual(a, b)
    const open = k8sManifests({ insecure: true }) as Obj[]
    assert.equal(
      open.find((o) => o.kind === 'Secret'),
      undefined,
    )
    assert.equal(open.find((o) => o.kind === 'ConfigMap')!.data.DISTLAB_INSECURE, '1')
    for (const o of open) validate(o)
  })

  test('the schema check catches a broken object (so the test above can fail)', () => {
    const sts = (k8sManifests({ nodes: 3 }) as Obj[]).find((o) => o.kind === 'StatefulSet')!
    sts.spec.replicas = 'three'
    assert.throws(() => validate(sts))
    const svc = (k8sManifests({ nodes: 3 }) as Obj[]).find((o) => o.kind === 'Service')!
    svc.spec.ports[0].port = 'http'
    assert.throws(() => validate(svc))
  })

  test('nodes are a StatefulSet of N behind a headless Service; the master a Deployment behind a Service', () => {
    const objs = k8sManifests({ nodes: 12, image: 'registry.example/distlab:1.2' }) as Obj[]
    const sts = objs.find((o) => o.kind === 'StatefulSet')!
    const dep = objs.find((o) => o.kind === 'Deployment')!
    const services = objs.filter((o) => o.kind === 'Service')
    const cm = objs.find((o) => o.kind === 'ConfigMap')!
    assert.equal(sts.spec.replicas, 12)
    const headless = services.find((s) => s.metadata.name === sts.spec.serviceName)!
    assert.ok(headless, 'the StatefulSet names an existing Service')
    assert.equal(headless.spec.clusterIP, 'None')
    assert.equal(dep.spec.replicas, 1)
    const masterSvc = services.find((s) => s.spec.clusterIP !== 'None')!
    assert.equal(masterSvc.metadata.name, 'master', 'nodes reach the bootstrap as http://master:5000')
    assert.ok(masterSvc.spec.ports.some((p: { port: number }) => p.port === 5000))
    // Selectors match their pods.
    for (const [svc, workload] of [
      [headless, sts],
      [masterSvc, dep],
    ] as const) {
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>))
        assert.equal(workload.spec.template.metadata.labels[k], v, `${svc.metadata.name} selects ${k}=${v}`)
      assert.deepEqual(workload.spec.selector.matchLabels, svc.spec.selector)
    }
    assert.equal(cm.data.DISTLAB_NODES, '12')
    assert.equal(cm.data.DISTLAB_BOOTSTRAP, 'http://master:5000')
    for (const w of [sts, dep]) {
      const pod = w.spec.template.spec
      const c = pod.containers[0]
      assert.equal(c.image, 'registry.example/distlab:1.2')
      assert.equal(pod.securityContext.runAsNonRoot, true)
      assert.notEqual(pod.securityContext.runAsUser, 0)
      assert.equal(c.readinessProbe.httpGet.path, '/health')
      assert.ok(
        c.envFrom.some((e: { configMapRef?: { name: string } }) => e.configMapRef?.name === cm.metadata.name),
      )
    }
    const args = sts.spec.template.spec.containers[0].args as string[]
    assert.equal(args[0], 'node')
    assert.equal(args[args.indexOf('--bootstrap') + 1], '$(DISTLAB_BOOTSTRAP)')
    assert.equal(args[args.indexOf('--name') + 1], '$(POD_NAME)')
  })

  test('writeK8sManifests writes one file per object that parses back to the same objects', () => {
    const dir = scratchDir('distlab-k8s-')
    dirs.push(dir)
    const files = writeK8sManifests(dir, { nodes: 5, key: 'a-fixed-key-for-the-test' })
    assert.equal(files.length, 6)
    assert.deepEqual(readManifests(dir), k8sManifests({ nodes: 5, key: 'a-fixed-key-for-the-test' }))
  })

  test('distlab deploy k8s --nodes N --out dir writes valid manifests; bad input exits 2', async () => {
    const dir = scratchDir('distlab-k8s-cli-')
    dirs.push(dir)
    const r = await runCli(['deploy', 'k8s', '--nodes', '9', '--out', dir, '--json'], { timeoutMs: 60_000 })
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as {
      dir: string
      files: Array<{ file: string; kind: string; name: string }>
    }
    assert.equal(out.files.length, 6)
    const objs = readManifests(dir)
    for (const o of objs) validate(o)
    assert.equal(objs.find((o) => o.kind === 'StatefulSet')!.spec.replicas, 9)

    const human = await runCli(['deploy', 'k8s', '--out', join(dir, 'h')], { timeoutMs: 60_000 })
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /StatefulSet/)
    assert.match(human.stdout, /kubectl apply -f/)

    const bad = await runCli(['deploy', 'k8s', '--nodes', '0', '--out', dir], { timeoutMs: 60_000 })
    assert.equal(bad.code, 2)
    const badNs = await runCli(['deploy', 'k8s', '--namespace', 'Not_Valid', '--out', dir], {
      timeoutMs: 60_000,
    })
    assert.equal(badNs.code, 2)
    const missing = await runCli(['deploy', 'k8s'], { timeoutMs: 60_000 })
    assert.equal(missing.code, 2)
  })
})
